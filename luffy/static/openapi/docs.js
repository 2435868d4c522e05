/*
 * Starts Swagger UI on the docs page (a file, so that the page's CSP needs no inline
 * script). The document's address comes from the page (data-url); everything Swagger
 * UI loads is of this origin: no validator badge, no external links fetched.
 */
"use strict";

(() => {
  const root = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    domNode: root,
    url: root.dataset.url,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    validatorUrl: null,  // else it loads a badge image from validator.swagger.io
    tryItOutEnabled: false,
    displayRequestDuration: true,
    defaultModelsExpandDepth: 0,
  });
})();
