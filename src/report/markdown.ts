/**
 * Markdown to HTML for reports and the suite site, through markdown-it (CommonMark plus GitHub
 * tables) with raw HTML disabled, so a results file can never inject markup into a page. Headings
 * are shifted one level down (a results file's `#` sits under the page's own title), and relative
 * link and image targets go through `resolve` (the site points them into each experiment's folder).
 */
import MarkdownIt from "markdown-it";

const md = new MarkdownIt({ html: false, linkify: false, typographer: false });

let currentResolve: (href: string) => string = (h) => h;

md.renderer.rules.link_open = (tokens, idx, options, _env, self) => {
  const href = tokens[idx].attrGet("href");
  if (href !== null) tokens[idx].attrSet("href", currentResolve(href));
  return self.renderToken(tokens, idx, options);
};
const image = md.renderer.rules.image!;
md.renderer.rules.image = (tokens, idx, options, env, self) => {
  const src = tokens[idx].attrGet("src");
  if (src !== null) tokens[idx].attrSet("src", currentResolve(src));
  return image(tokens, idx, options, env, self);
};
const shift = (tag: string) => `h${Math.min(6, Number(tag.slice(1)) + 1)}`;
md.renderer.rules.heading_open = (tokens, idx, options, _env, self) => {
  tokens[idx].tag = shift(tokens[idx].tag);
  return self.renderToken(tokens, idx, options);
};
md.renderer.rules.heading_close = (tokens, idx, options, _env, self) => {
  tokens[idx].tag = shift(tokens[idx].tag);
  return self.renderToken(tokens, idx, options);
};

/** Convert Markdown to HTML; `resolve` rewrites link and image targets. */
export function markdownToHTML(text: string, resolve: (href: string) => string = (h) => h): string {
  currentResolve = resolve;
  try {
    return md.render(text);
  } finally {
    currentResolve = (h) => h;
  }
}
