// Stands in for mermaid until a diagram is about to scroll into view, so that opening a page
// costs a few hundred bytes, not the 3.6 MB library. overrides/main.html adds this script only to
// pages with a diagram; Material finds `window.mermaid` defined, calls initialize() and then
// render() once per diagram, in page order. The real library is served from the site itself
// (assets/vendor/mermaid/), never from a CDN.
(() => {
  const LIBRARY = new URL("../vendor/mermaid/mermaid.min.js", document.currentScript.src).href;
  const AHEAD = "300px 0px"; // start loading a little before the diagram is on screen
  let config = {};
  let library = null;
  const claimed = new Set();

  const load = () =>
    (library ??= new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = LIBRARY;
      script.onload = () => {
        window.mermaid.initialize(config); // the real library has replaced this stand-in
        resolve(window.mermaid);
      };
      script.onerror = reject;
      document.head.appendChild(script);
    }));

  const nearScreen = (element) =>
    new Promise((resolve) => {
      if (!element) return resolve();
      const observer = new IntersectionObserver(
        (entries) => {
          if (entries.some((entry) => entry.isIntersecting)) {
            observer.disconnect();
            resolve();
          }
        },
        { rootMargin: AHEAD },
      );
      observer.observe(element);
    });

  window.mermaid = {
    initialize(options) {
      config = options;
    },
    async render(id, text, ...rest) {
      const element = [...document.querySelectorAll("pre.mermaid")].find(
        (candidate) => candidate.textContent === text && !claimed.has(candidate),
      );
      claimed.add(element);
      await nearScreen(element);
      return (await load()).render(id, text, ...rest);
    },
  };
})();
