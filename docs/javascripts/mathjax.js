// MathJax for the pages (pymdownx.arithmatex, generic mode: \( \) and \[ \] inside
// span/div.arithmatex) and for the notebooks' markdown cells (mkdocs-jupyter: $ $ and $$ $$
// inside div.jp-MarkdownCell). Everything else, code and outputs included, is left alone.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex|jp-MarkdownCell"
  }
};

document$.subscribe(() => {
  MathJax.typesetPromise()
})
