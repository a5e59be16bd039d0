// Equations with KaTeX, shipped with the site (javascripts/vendor/katex/): nothing is fetched
// from the network, so the maths renders when the site is opened from the disk.
//
// What is typeset:
//   - the pages' maths, written by pymdownx.arithmatex (generic mode): \( \) inside
//     span.arithmatex and \[ \] inside div.arithmatex;
//   - the notebooks' markdown cells (mkdocs-jupyter keeps $ $ and $$ $$ as written), their
//     headings included;
//   - the table of contents and the header's title, which copy the headings' raw LaTeX.
// Everything else, code and notebook outputs included, is left alone. Nothing here throws:
// without KaTeX the page keeps its LaTeX source; without Material's document$ (instant
// navigation) the maths is typeset once, when the page has loaded.
(function () {
  "use strict";

  var DELIMITERS = [
    { left: "$$", right: "$$", display: true },
    { left: "\\[", right: "\\]", display: true },
    { left: "\\(", right: "\\)", display: false },
    { left: "$", right: "$", display: false }
  ];
  var OPTIONS = { throwOnError: false, strict: "ignore" };

  function warn(what, err) {
    if (window.console && console.warn) console.warn("plastisim maths: " + what, err);
  }

  // span.arithmatex: \( ... \); div.arithmatex: \[ ... \] (or an environment, kept whole)
  function typesetArithmatex(root) {
    var nodes = root.querySelectorAll(".arithmatex");
    for (var i = 0; i < nodes.length; i++) {
      var el = nodes[i];
      if (el.querySelector(".katex")) continue;            // done already
      var display = el.tagName === "DIV";
      var tex = (el.textContent || "").trim();
      var m = /^\\\(([\s\S]*)\\\)$/.exec(tex) || /^\\\[([\s\S]*)\\\]$/.exec(tex);
      if (m) tex = m[1];
      try {
        katex.render(tex, el, {
          displayMode: display, throwOnError: false, strict: "ignore"
        });
      } catch (err) {
        warn("could not typeset " + tex, err);
      }
    }
  }

  // $ $, $$ $$, \( \) and \[ \] anywhere in the text of these elements (auto-render skips
  // pre, code, script and the like by itself)
  function typesetText(root, selector) {
    if (typeof renderMathInElement !== "function") return;
    var nodes = root.querySelectorAll(selector);
    for (var i = 0; i < nodes.length; i++) {
      var el = nodes[i];
      var text = el.textContent || "";
      if (text.indexOf("$") < 0 && text.indexOf("\\(") < 0 && text.indexOf("\\[") < 0) {
        continue;
      }
      try {
        renderMathInElement(el, {
          delimiters: DELIMITERS,
          throwOnError: OPTIONS.throwOnError,
          strict: OPTIONS.strict,
          ignoredClasses: ["katex", "arithmatex", "jp-OutputArea", "highlight"]
        });
      } catch (err) {
        warn("could not typeset " + selector, err);
      }
    }
  }

  function typeset() {
    if (typeof katex === "undefined" || !katex || typeof katex.render !== "function") {
      warn("KaTeX is not loaded: the equations stay as LaTeX source");
      return;
    }
    var root = document.body;
    if (!root) return;
    typesetArithmatex(root);
    // notebooks: the markdown cells (never the code cells or their outputs)
    typesetText(root, ".jp-MarkdownCell .jp-RenderedMarkdown, .jp-MarkdownCell .jp-RenderedHTMLCommon");
    // the tables of contents and the header: the titles of headings holding maths
    typesetText(root, ".md-nav__link, .md-header__topic");
  }

  function safeTypeset() {
    try {
      typeset();
    } catch (err) {
      warn("typesetting failed", err);
    }
  }

  var subscribed = false;
  try {
    if (typeof document$ !== "undefined" && document$ && typeof document$.subscribe === "function") {
      document$.subscribe(safeTypeset);                    // each page of instant navigation
      subscribed = true;
    }
  } catch (err) {
    warn("document$ unavailable", err);
  }
  if (!subscribed) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", safeTypeset);
    } else {
      safeTypeset();
    }
  }
})();
