// Code context of a selection and the query of the "related" view. Pure (no VS Code API): the
// extension passes plain values in, so the rules are unit-tested.

/** Where a selection is: everything a memory says about the code around it. */
export interface CodeContext {
  /** Workspace-relative path with `/` separators. */
  path: string;
  /** VS Code's language id (`typescript`, `python`). */
  language: string;
  /** First and last selected line, 1-based. */
  lineStart: number;
  lineEnd: number;
  /** The symbol around the cursor (`Cart.total`), when a language server names one. */
  symbol?: string;
  /** The workspace folder's name. */
  workspace?: string;
  /** Repository name (its folder name, as the git watcher names it), branch and HEAD commit. */
  repository?: string;
  branch?: string;
  commit?: string;
  /** The `origin` remote's URL (credentials removed). */
  remote?: string;
}

/** A document symbol as the language server gives it, reduced to what matters here. */
export interface SymbolNode {
  name: string;
  /** 0-based lines of the symbol's whole range. */
  startLine: number;
  endLine: number;
  children: SymbolNode[];
}

/** `file` relative to `folder` with `/` separators; `file` itself when outside it. */
export function relativePath(folder: string | undefined, file: string): string {
  const norm = (p: string): string => p.replace(/\\/g, "/");
  const f = norm(file);
  if (folder === undefined) return f.split("/").pop() ?? f;
  const root = norm(folder).replace(/\/+$/, "");
  return f.startsWith(`${root}/`) ? f.slice(root.length + 1) : f;
}

/**
 * The 1-based lines a selection covers. A selection ending at column 0 of a line (a whole-line
 * selection made with the keyboard) does not include that line.
 */
export function selectedLines(
  startLine: number,
  endLine: number,
  endCharacter: number,
): { lineStart: number; lineEnd: number } {
  const last =
    endLine > startLine && endCharacter === 0 ? endLine - 1 : endLine;
  return { lineStart: startLine + 1, lineEnd: last + 1 };
}

/** The innermost symbol containing `line` (0-based), as a dotted path (`Cart.total`). */
export function enclosingSymbol(
  symbols: SymbolNode[],
  line: number,
): string | undefined {
  const path: string[] = [];
  let level = symbols;
  for (;;) {
    const inside = level.find((s) => s.startLine <= line && line <= s.endLine);
    if (inside === undefined) break;
    path.push(inside.name);
    level = inside.children;
  }
  return path.length === 0 ? undefined : path.join(".");
}

/** Top-level symbol names near `line` (0-based): the enclosing one first, then by distance. */
export function nearbySymbols(
  symbols: SymbolNode[],
  line: number,
  count: number,
): string[] {
  const distance = (s: SymbolNode): number =>
    line < s.startLine
      ? s.startLine - line
      : line > s.endLine
        ? line - s.endLine
        : 0;
  return [...symbols]
    .sort((a, b) => distance(a) - distance(b))
    .slice(0, count)
    .map((s) => s.name);
}

/** The search text of the memories related to a file: its path, name and nearby symbols. */
export function relatedQuery(path: string, symbols: string[]): string {
  const name = path.split("/").pop() ?? path;
  const words = [path, name.replace(/\.[^.]+$/, ""), ...symbols];
  return Array.from(new Set(words.filter((w) => w !== "")))
    .join(" ")
    .slice(0, 1024);
}

/** A remote URL without credentials (`https://user:token@host/x` → `https://host/x`). */
export function safeRemote(url: string | undefined): string | undefined {
  if (url === undefined || url === "") return undefined;
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, "$1");
}

/** The name the git watcher gives a repository by default: its folder's name. */
export function repositoryName(root: string): string {
  const parts = root.replace(/\\/g, "/").replace(/\/+$/, "").split("/");
  return (parts.pop() ?? "").replace(/\.git$/, "");
}
