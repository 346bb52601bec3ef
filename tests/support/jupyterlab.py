"""What a person does in JupyterLab's page, through Selenium: use its menu bar."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from .kafka import wait_for


def use_menu(driver, menu: str, label: str) -> None:
    """Open a menu of the menu bar and click the entry a person reads there."""
    bar = driver.find_elements(By.CSS_SELECTOR, "#jp-menu-panel .lm-MenuBar-item")
    [item] = [entry for entry in bar if entry.text.strip() == menu]
    item.click()

    def entry():
        shown = driver.find_elements(By.CSS_SELECTOR, ".lm-Menu .lm-Menu-item .lm-Menu-itemLabel")
        return [each for each in shown if each.text.strip() == label]

    wait_for(entry, 10, what=f"la entrada «{label}» del menú {menu}")[0].click()
