// Memory Machines: small fixes to the behaviour of the rendered book.
// A solution's title links back to its exercise. sphinx-togglebutton listens for clicks on the
// whole title and throws "button is not defined" when the click lands on that link; let the
// link just be a link, and leave toggling to the rest of the title and its button.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".dropdown > .admonition-title a").forEach((link) => {
    link.addEventListener("click", (event) => event.stopPropagation());
  });
});
