import { describe, expect, it } from "vitest";
import { markdownToHTML } from "./markdown.js";

describe("markdown for reports and the site (markdown-it, raw HTML off)", () => {
  it("renders tables, code and inline marks, and escapes HTML", () => {
    const h = markdownToHTML("# T\n\n| a | b |\n|---|---|\n| 1 | **x** |\n\n```\n<b>\n```\n\ntext <script>alert(1)</script> `c`");
    expect(h).toContain("<h2>T</h2>");
    expect(h).toMatch(/<table>[\s\S]*<th>a<\/th>[\s\S]*<td><strong>x<\/strong><\/td>[\s\S]*<\/table>/);
    expect(h).toContain("&lt;b&gt;");
    expect(h).not.toContain("<script>");
    expect(h).toContain("&lt;script&gt;");
    expect(h).toContain("<code>c</code>");
  });
  it("handles what the old regex subset broke: ordered and nested lists, blockquotes, links with parentheses, escaped pipes", () => {
    const h = markdownToHTML("1. one\n2. two\n   - nested\n\n> quoted\n\n[link](https://example.com/a_(b))\n\n| a | b |\n|---|---|\n| mean \\| Δ | 0.146 |");
    expect(h).toMatch(/<ol>\s*<li>one<\/li>\s*<li>two\s*<ul>\s*<li>nested<\/li>/);
    expect(h).toMatch(/<blockquote>\s*<p>quoted<\/p>\s*<\/blockquote>/);
    expect(h).toContain('<a href="https://example.com/a_(b)">link</a>');
    expect(h).toContain("<td>mean | Δ</td>");
    expect(h).not.toContain("\\");
  });
  it("resolves relative link and image targets, and only for that call", () => {
    const h = markdownToHTML("![chart](assets/loss.png) [report](report.html)", (p) => `lm/${p}`);
    expect(h).toContain('src="lm/assets/loss.png"');
    expect(h).toContain('href="lm/report.html"');
    expect(markdownToHTML("[r](report.html)")).toContain('href="report.html"');
  });
});
