"""Kafka clusters: the contract (:mod:`.base`) and one module per backend."""

from .base import Broker, Cluster, CommandResult

__all__ = ["Cluster", "Broker", "CommandResult"]
