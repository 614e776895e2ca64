import assert from "node:assert/strict";
import { test } from "node:test";

import {
  enclosingSymbol,
  nearbySymbols,
  relatedQuery,
  relativePath,
  repositoryName,
  safeRemote,
  selectedLines,
  type SymbolNode,
} from "../src/context";

const SYMBOLS: SymbolNode[] = [
  { name: "TAX", startLine: 0, endLine: 0, children: [] },
  {
    name: "Cart",
    startLine: 2,
    endLine: 20,
    children: [
      { name: "items", startLine: 3, endLine: 3, children: [] },
      { name: "total", startLine: 5, endLine: 10, children: [] },
    ],
  },
  { name: "checkout", startLine: 30, endLine: 40, children: [] },
];

test("paths are workspace-relative with / separators", () => {
  assert.equal(
    relativePath("/work/shop", "/work/shop/src/cart.ts"),
    "src/cart.ts",
  );
  assert.equal(relativePath("/work/shop/", "/work/shop/a.ts"), "a.ts");
  assert.equal(
    relativePath("C:\\work\\shop", "C:\\work\\shop\\src\\a.ts"),
    "src/a.ts",
  );
  assert.equal(
    relativePath("/work/shop", "/work/shopping/a.ts"),
    "/work/shopping/a.ts",
  );
  assert.equal(relativePath(undefined, "/tmp/notes.md"), "notes.md");
});

test("selected lines are 1-based and a trailing column 0 is not a line", () => {
  assert.deepEqual(selectedLines(2, 4, 0), { lineStart: 3, lineEnd: 4 });
  assert.deepEqual(selectedLines(2, 4, 7), { lineStart: 3, lineEnd: 5 });
  assert.deepEqual(selectedLines(2, 2, 0), { lineStart: 3, lineEnd: 3 });
});

test("the symbol around the cursor is the innermost one, dotted", () => {
  assert.equal(enclosingSymbol(SYMBOLS, 6), "Cart.total");
  assert.equal(enclosingSymbol(SYMBOLS, 15), "Cart");
  assert.equal(enclosingSymbol(SYMBOLS, 25), undefined);
  assert.equal(enclosingSymbol([], 0), undefined);
});

test("nearby symbols start with the enclosing one, then the closest", () => {
  assert.deepEqual(nearbySymbols(SYMBOLS, 6, 2), ["Cart", "TAX"]);
  assert.deepEqual(nearbySymbols(SYMBOLS, 28, 1), ["checkout"]);
});

test("the related query names the path, file and symbols once", () => {
  assert.equal(
    relatedQuery("src/cart.ts", ["Cart", "cart", "Cart"]),
    "src/cart.ts cart Cart",
  );
  assert.ok(relatedQuery("a".repeat(2000), []).length <= 1024);
});

test("remotes lose their credentials; repositories are named by their folder", () => {
  assert.equal(
    safeRemote("https://ada:ghp_secret@github.com/o/r.git"),
    "https://github.com/o/r.git",
  );
  assert.equal(safeRemote("git@github.com:o/r.git"), "git@github.com:o/r.git");
  assert.equal(safeRemote(""), undefined);
  assert.equal(repositoryName("/work/shop/"), "shop");
  assert.equal(repositoryName("/srv/repo.git"), "repo");
  assert.equal(repositoryName("C:\\code\\shop"), "shop");
});
