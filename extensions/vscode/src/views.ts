// The side views: "Recall" (the results of the last search) and "Related to This File" (the
// memories related to the file in the editor, refreshed as you switch files, debounced and
// cached so typing never sends a request).

import * as vscode from "vscode";

import { describe, queryBody, recalled, type Recalled } from "./api";
import type { Client } from "./client";
import {
  nearbySymbols,
  relatedQuery,
  relativePath,
  type SymbolNode,
} from "./context";

/** A memory shown in a view. */
export class MemoryItem extends vscode.TreeItem {
  constructor(
    readonly memory: Recalled,
    now: Date,
  ) {
    const firstLine =
      memory.content.split("\n").find((l) => l.trim() !== "") ?? memory.content;
    super(firstLine.length > 100 ? `${firstLine.slice(0, 99)}…` : firstLine);
    this.description = describe(memory, now);
    const tooltip = new vscode.MarkdownString(undefined, true);
    tooltip.appendText(memory.content);
    tooltip.appendMarkdown(`\n\n---\n${this.description}`);
    if (memory.tags.length > 0)
      tooltip.appendMarkdown(` · ${memory.tags.map((t) => `#${t}`).join(" ")}`);
    if (memory.url !== undefined)
      tooltip.appendMarkdown(`\n\n[Open source](${memory.url})`);
    this.tooltip = tooltip;
    this.contextValue =
      memory.url !== undefined ? "rae.memory.linked" : "rae.memory";
    this.iconPath = new vscode.ThemeIcon(
      memory.url !== undefined ? "link" : "note",
    );
    this.accessibilityInformation = {
      label: `${memory.content} (${this.description})`,
    };
  }
}

/** A tree of memories with a message when there are none. */
class MemoryList implements vscode.TreeDataProvider<MemoryItem> {
  private items: MemoryItem[] = [];
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  view: vscode.TreeView<MemoryItem> | undefined;

  show(
    memories: Recalled[],
    message: string | undefined,
    description: string | undefined,
  ): void {
    const now = new Date();
    this.items = memories.map((m) => new MemoryItem(m, now));
    this.changed.fire();
    if (this.view !== undefined) {
      this.view.message = message;
      this.view.description = description;
    }
  }

  getTreeItem(item: MemoryItem): MemoryItem {
    return item;
  }

  getChildren(): MemoryItem[] {
    return this.items;
  }
}

/** The "Recall" view and its search. */
export class RecallView {
  readonly list = new MemoryList();

  constructor(
    private readonly client: Client,
    private readonly project: () => string,
    private readonly maxResults: () => number,
  ) {}

  register(): vscode.Disposable {
    const view = vscode.window.createTreeView("rae.recall", {
      treeDataProvider: this.list,
      showCollapseAll: false,
    });
    this.list.view = view;
    return view;
  }

  /** Searches `query` and shows the results, revealing the view. */
  async search(query: string): Promise<void> {
    const body = queryBody(query, this.project(), this.maxResults());
    await vscode.commands.executeCommand("rae.recall.focus");
    this.list.show([], `Searching for “${body.query}”…`, undefined);
    try {
      const results = recalled(await this.client.query(body));
      this.list.show(
        results,
        results.length === 0
          ? `No memories found for “${body.query}”.`
          : undefined,
        `“${body.query}”`,
      );
    } catch (e) {
      this.list.show(
        [],
        `Recall failed: ${(e as Error).message}`,
        `“${body.query}”`,
      );
      throw e;
    }
  }
}

/** How long a file's related memories are reused. */
const CACHE_MS = 5 * 60_000;
/** How long the editor must stay on a file before its memories are asked for. */
const DEBOUNCE_MS = 400;

/** The "Related to This File" view. */
export class ContextView {
  readonly list = new MemoryList();
  private readonly cache = new Map<
    string,
    { at: number; results: Recalled[] }
  >();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private view: vscode.TreeView<MemoryItem> | undefined;
  /** The file shown, so an answer for a file left meanwhile is not shown. */
  private current: string | undefined;

  constructor(
    private readonly client: Client,
    private readonly project: () => string,
    private readonly enabled: () => boolean,
  ) {}

  register(): vscode.Disposable[] {
    this.view = vscode.window.createTreeView("rae.context", {
      treeDataProvider: this.list,
    });
    this.list.view = this.view;
    return [
      this.view,
      this.view.onDidChangeVisibility(() => this.schedule()),
      // Switching files (not typing: edits do not change the active editor) refreshes.
      vscode.window.onDidChangeActiveTextEditor(() => this.schedule()),
      { dispose: () => clearTimeout(this.timer) },
    ];
  }

  /** Refreshes after the debounce, only while the view is visible. */
  schedule(): void {
    clearTimeout(this.timer);
    if (this.view?.visible !== true) return;
    this.timer = setTimeout(() => void this.refresh(false), DEBOUNCE_MS);
  }

  /** Forgets cached answers (a memory was stored) and refreshes when visible. */
  invalidate(): void {
    this.cache.clear();
    this.schedule();
  }

  /** Shows the memories related to the active file; `force` skips the cache. */
  async refresh(force: boolean): Promise<void> {
    if (!this.enabled()) {
      this.list.show(
        [],
        "Turned off by the setting rae.context.enabled.",
        undefined,
      );
      return;
    }
    const editor = vscode.window.activeTextEditor;
    if (editor === undefined || editor.document.uri.scheme === "output") {
      this.list.show(
        [],
        "Open a file to see the memories related to it.",
        undefined,
      );
      return;
    }
    const document = editor.document;
    const folder = vscode.workspace.getWorkspaceFolder(document.uri);
    const path = relativePath(folder?.uri.fsPath, document.uri.fsPath);
    this.current = path;
    const cached = this.cache.get(path);
    if (!force && cached !== undefined && Date.now() - cached.at < CACHE_MS) {
      this.show(path, cached.results);
      return;
    }
    const symbols = await documentSymbols(document.uri);
    const query = relatedQuery(
      path,
      nearbySymbols(symbols, editor.selection.active.line, 5),
    );
    try {
      const results = recalled(
        await this.client.query(queryBody(query, this.project(), 10)),
      );
      this.cache.set(path, { at: Date.now(), results });
      if (this.current === path) this.show(path, results);
    } catch (e) {
      if (this.current === path) {
        this.list.show([], `Could not ask RAE: ${(e as Error).message}`, path);
      }
    }
  }

  private show(path: string, results: Recalled[]): void {
    this.list.show(
      results,
      results.length === 0
        ? "No memories related to this file yet."
        : undefined,
      path,
    );
  }
}

/** The document's symbols from its language server, or none within three seconds (a language
 * server that is still starting). */
export async function documentSymbols(uri: vscode.Uri): Promise<SymbolNode[]> {
  const toNode = (s: vscode.DocumentSymbol): SymbolNode => ({
    name: s.name,
    startLine: s.range.start.line,
    endLine: s.range.end.line,
    children: (s.children ?? []).map(toNode),
  });
  const ask = vscode.commands
    .executeCommand<
      (vscode.DocumentSymbol | vscode.SymbolInformation)[] | undefined
    >("vscode.executeDocumentSymbolProvider", uri)
    .then(
      (symbols) =>
        (symbols ?? []).map((s) =>
          "children" in s
            ? toNode(s)
            : {
                name: s.name,
                startLine: s.location.range.start.line,
                endLine: s.location.range.end.line,
                children: [],
              },
        ),
      () => [],
    );
  const timeout = new Promise<SymbolNode[]>((resolve) =>
    setTimeout(() => resolve([]), 3000),
  );
  return Promise.race([ask, timeout]);
}
