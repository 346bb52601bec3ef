// kafkalab-curso: the Kafka course's JupyterLab extension, written by hand (no build step).
//
// JupyterLab 4 loads a prebuilt extension as a module federation container: it runs this
// script, calls window._JUPYTERLAB['kafkalab-curso'].init(shareScope), then .get('./extension')
// and takes the module's default export as its plugins. This plugin shares and imports no
// package, so the container is a plain object.
//
// The plugin adds one file type, "kafkalab-course-index", for files named README.md and
// glosario.md, the course's index and glossary (a
// `pattern`: DocumentRegistry.getFileTypesForPath puts the file type whose pattern matches a
// name before those that match its extension) with "Markdown Preview" as a viewer. The
// settings that `make setup` installs (jupyter/overrides.json) then map it to "Markdown
// Preview" in defaultViewers, while "markdown" (every other .md: the course's notebooks) maps
// to "Jupytext Notebook". Overrides are looked up in the order of the path's file types, so
// README.md and glosario.md open rendered and 00-hola-kafka.md opens as a notebook.
(function () {
  'use strict';

  var FILE_TYPE = 'kafkalab-course-index';

  var courseIndex = {
    id: 'kafkalab-curso:course-index',
    description: 'README.md and glosario.md (the course index and glossary) open as Markdown Preview.',
    autoStart: true,
    activate: function (app) {
      var markdown = app.docRegistry.getFileType('markdown');
      app.docRegistry.addFileType(
        {
          name: FILE_TYPE,
          displayName: 'Índice del curso',
          pattern: '^(README|glosario)\\.md$',
          extensions: [],
          mimeTypes: markdown ? markdown.mimeTypes : ['text/markdown'],
          icon: markdown ? markdown.icon : undefined,
          contentType: 'file',
          fileFormat: 'text'
        },
        ['Markdown Preview']
      );
    }
  };

  var modules = {
    './extension': { __esModule: true, default: [courseIndex] }
  };

  window._JUPYTERLAB = window._JUPYTERLAB || {};
  window._JUPYTERLAB['kafkalab-curso'] = {
    init: function () {
      return Promise.resolve();
    },
    get: function (name) {
      if (!(name in modules)) {
        return Promise.reject(new Error('kafkalab-curso has no module ' + name));
      }
      return Promise.resolve(function () {
        return modules[name];
      });
    }
  };
})();
