// The RAE Memory extension: remember the selection or a note (Ctrl+Shift+M), recall memories in
// a side view, see the memories related to the file in the editor, and (opt-in) remember
// commits. Everything goes through rae-pipeline's memories API with an API key kept in VS Code's
// secret storage; memories wait in a local queue while the ingress is unreachable.

import { randomUUID } from "node:crypto";
import * as vscode from "vscode";

import {
  commitBody,
  memoryBody,
  parseNote,
  type CommitFacts,
  type MemoryBody,
  type Target,
} from "./api";
import { Client } from "./client";
import {
  enclosingSymbol,
  relativePath,
  repositoryName,
  safeRemote,
  selectedLines,
  type CodeContext,
} from "./context";
import { gitApi, type GitRepository } from "./git";
import { Queue, retryDelayMs, type Flushed } from "./queue";
import { ContextView, documentSymbols, MemoryItem, RecallView } from "./views";

/** Secret storage key of the API key. */
const KEY_SECRET = "rae.apiKey";
/** How often the status bar asks the pipeline whether it is ready. */
const HEALTH_EVERY_MS = 60_000;

let activation: Extension | undefined;

export function activate(context: vscode.ExtensionContext): {
  activationMs: number;
} {
  const started = performance.now();
  activation = new Extension(context);
  const activationMs = performance.now() - started;
  activation.log(`activated in ${activationMs.toFixed(1)} ms`);
  return { activationMs };
}

export function deactivate(): void {
  activation?.dispose();
  activation = undefined;
}

class Extension {
  private readonly output = vscode.window.createOutputChannel("RAE Memory");
  private readonly status = vscode.window.createStatusBarItem(
    "rae.status",
    vscode.StatusBarAlignment.Right,
    100,
  );
  private readonly client: Client;
  private readonly queue: Queue;
  private readonly recall: RecallView;
  private readonly related: ContextView;
  private lastError: string | undefined;
  private healthy: boolean | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private healthTimer: ReturnType<typeof setInterval> | undefined;
  private retryAttempt = 0;
  private commitWatch: vscode.Disposable | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly context: vscode.ExtensionContext) {
    this.client = new Client(
      () => this.target(),
      async () => (await context.secrets.get(KEY_SECRET)) || undefined,
    );
    this.queue = new Queue(context.globalState, (item) =>
      this.client.store(item.body),
    );
    this.recall = new RecallView(
      this.client,
      () => this.target().project,
      () => this.settings().get<number>("recall.maxResults", 10),
    );
    this.related = new ContextView(
      this.client,
      () => this.target().project,
      () => this.settings().get<boolean>("context.enabled", true),
    );
    this.status.name = "RAE Memory";
    this.status.command = "rae.showStatus";
    const command = (id: string, run: (...args: never[]) => unknown): void => {
      this.disposables.push(vscode.commands.registerCommand(id, run));
    };
    command("rae.remember", () => this.remember());
    command("rae.recall", (query?: string) => this.runRecall(query));
    command("rae.setApiKey", () => this.setApiKey());
    command("rae.clearApiKey", () => this.clearApiKey());
    command("rae.sendQueued", () => this.flush(true));
    command("rae.showStatus", () => this.showStatus());
    command("rae.refreshContext", () => this.related.refresh(true));
    command("rae.insertResult", (item?: MemoryItem) => this.insert(item));
    command("rae.copyResult", (item?: MemoryItem) => this.copy(item));
    command("rae.openResultSource", (item?: MemoryItem) =>
      this.openSource(item),
    );
    this.disposables.push(
      this.output,
      this.status,
      this.recall.register(),
      ...this.related.register(),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration("rae.autoCommitMemory"))
          void this.watchCommits();
        if (e.affectsConfiguration("rae.ingressUrl")) void this.checkHealth();
      }),
      context.secrets.onDidChange((e) => {
        if (e.key === KEY_SECRET) void this.flush(false);
      }),
    );
    this.render();
    this.status.show();
    // Nothing slow during activation: the first health check, queued memories and the commit
    // watch start on the next turn.
    setTimeout(() => {
      void this.checkHealth();
      void this.watchCommits();
    }, 0);
    this.healthTimer = setInterval(
      () => void this.checkHealth(),
      HEALTH_EVERY_MS,
    );
  }

  dispose(): void {
    clearTimeout(this.retryTimer);
    clearInterval(this.healthTimer);
    this.commitWatch?.dispose();
    for (const d of this.disposables) d.dispose();
  }

  log(line: string): void {
    this.output.appendLine(`${new Date().toISOString()} ${line}`);
  }

  private settings(): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration("rae");
  }

  private target(): Target {
    const s = this.settings();
    const configured = s.get<string>("project", "").trim();
    const folder = vscode.workspace.workspaceFolders?.[0]?.name;
    return {
      ingressUrl: s.get<string>("ingressUrl", "http://127.0.0.1:8080"),
      tenant: s.get<string>("tenant", ""),
      project: configured !== "" ? configured : (folder ?? "default"),
    };
  }

  // ---- remember -------------------------------------------------------------------------

  private async remember(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    const selection = editor?.selection;
    const code =
      editor !== undefined && selection !== undefined && !selection.isEmpty
        ? editor.document.getText(selection)
        : undefined;
    // The context (symbols, git) is gathered while the person types.
    const where =
      editor !== undefined
        ? this.codeContext(editor)
        : Promise.resolve(undefined);
    const prompt =
      code !== undefined
        ? "Remember the selection. Add a note if you like; #tag adds a tag, !high or !0.8 sets the importance. Enter stores."
        : "Remember a note. #tag adds a tag, !high or !0.8 sets the importance.";
    const text = await vscode.window.showInputBox({
      title: "RAE: Remember",
      prompt,
      placeHolder:
        code !== undefined
          ? "Optional note, #tags, !importance"
          : "What to remember",
      ignoreFocusOut: true,
      validateInput: (value) => {
        try {
          const parsed = parseNote(value);
          return code === undefined && parsed.note === ""
            ? "Type what to remember"
            : undefined;
        } catch (e) {
          return (e as Error).message;
        }
      },
    });
    if (text === undefined) return;
    const key = randomUUID();
    const body = memoryBody(
      parseNote(text),
      code,
      code !== undefined ? await where : undefined,
      this.target().project,
      new Date(),
      key,
    );
    await this.enqueue(key, body);
  }

  private async enqueue(key: string, body: MemoryBody): Promise<void> {
    try {
      await this.queue.add(key, body, new Date());
    } catch (e) {
      void vscode.window.showErrorMessage(`RAE: ${(e as Error).message}`);
      return;
    }
    this.log(`queued ${body.kind} memory ${key}`);
    const result = await this.flush(false);
    if (result.waiting > 0) {
      vscode.window.setStatusBarMessage(
        `$(cloud-upload) RAE: memory queued (${result.waiting} waiting): ${this.lastError ?? ""}`,
        5000,
      );
    } else {
      vscode.window.setStatusBarMessage("$(check) RAE: remembered", 3000);
    }
    this.related.invalidate();
  }

  private async codeContext(editor: vscode.TextEditor): Promise<CodeContext> {
    const document = editor.document;
    const folder = vscode.workspace.getWorkspaceFolder(document.uri);
    const { start, end } = editor.selection;
    const context: CodeContext = {
      path: relativePath(folder?.uri.fsPath, document.uri.fsPath),
      language: document.languageId,
      ...selectedLines(start.line, end.line, end.character),
    };
    if (folder !== undefined) context.workspace = folder.name;
    const [symbols, git] = await Promise.all([
      documentSymbols(document.uri),
      gitApi(),
    ]);
    const symbol = enclosingSymbol(symbols, start.line);
    if (symbol !== undefined) context.symbol = symbol;
    const repo = git?.getRepository(document.uri);
    if (repo) {
      context.repository = repositoryName(repo.rootUri.fsPath);
      const head = repo.state.HEAD;
      if (head?.name) context.branch = head.name;
      if (head?.commit) context.commit = head.commit;
      const remote = safeRemote(
        repo.state.remotes.find((r) => r.name === "origin")?.fetchUrl,
      );
      if (remote !== undefined) context.remote = remote;
    }
    return context;
  }

  // ---- queue ------------------------------------------------------------------------------

  /** Sends what waits; schedules a retry when something must wait. */
  private async flush(byHand: boolean): Promise<Flushed> {
    clearTimeout(this.retryTimer);
    const result = await this.queue.flush();
    for (const { item, error } of result.rejected) {
      this.log(
        `memory ${item.key} refused by the pipeline: ${error}\n${item.body.content}`,
      );
      void vscode.window
        .showErrorMessage(`RAE refused a memory: ${error}`, "Copy its content")
        .then((choice) => {
          if (choice !== undefined)
            void vscode.env.clipboard.writeText(item.body.content);
        });
    }
    if (result.sent > 0) this.log(`sent ${result.sent} memories`);
    if (result.stopped !== undefined) {
      this.lastError = result.stopped.error;
      this.healthy = result.stopped.kind === "blocked" ? this.healthy : false;
      this.log(`memories waiting (${result.waiting}): ${result.stopped.error}`);
      if (result.stopped.kind === "retry") {
        this.retryAttempt++;
        const delay = retryDelayMs(
          this.retryAttempt,
          result.stopped.retryAfterMs,
        );
        this.retryTimer = setTimeout(() => void this.flush(false), delay);
      } else if (byHand) {
        void vscode.window.showWarningMessage(`RAE: ${result.stopped.error}`);
      }
    } else {
      this.retryAttempt = 0;
      if (result.sent > 0) {
        this.healthy = true;
        this.lastError = undefined;
      }
    }
    this.render();
    return result;
  }

  // ---- health and status ------------------------------------------------------------------

  private async checkHealth(): Promise<void> {
    const problem = await this.client.health();
    const wasDown = this.healthy !== true;
    this.healthy = problem === undefined;
    if (problem !== undefined) this.lastError = problem;
    this.render();
    if (this.healthy && wasDown && this.queue.size > 0) await this.flush(false);
  }

  private render(): void {
    const waiting = this.queue.size;
    const queued = waiting > 0 ? ` ${waiting} queued` : "";
    if (this.healthy === false) {
      this.status.text = `$(warning) RAE${queued}`;
      this.status.backgroundColor = new vscode.ThemeColor(
        "statusBarItem.warningBackground",
      );
    } else {
      this.status.text = `$(database) RAE${queued}`;
      this.status.backgroundColor = undefined;
    }
    const state =
      this.healthy === undefined
        ? "checking…"
        : this.healthy
          ? "answering"
          : "not answering";
    const lines = [`RAE Memory: ${this.target().ingressUrl} is ${state}`];
    if (waiting > 0) {
      lines.push(
        `${waiting} ${waiting === 1 ? "memory" : "memories"} waiting to be sent`,
      );
    }
    if (this.lastError !== undefined)
      lines.push(`Last error: ${this.lastError}`);
    this.status.tooltip = lines.join("\n");
    this.status.accessibilityInformation = { label: lines.join(". ") };
  }

  private async showStatus(): Promise<void> {
    await this.checkHealth();
    const items: (vscode.QuickPickItem & { run?: () => unknown })[] = [
      {
        label: this.status.tooltip as string,
        kind: vscode.QuickPickItemKind.Separator,
      },
      { label: "$(search) Recall", run: () => this.runRecall() },
      {
        label: "$(cloud-upload) Send queued memories",
        run: () => this.flush(true),
      },
      { label: "$(key) Set API key", run: () => this.setApiKey() },
      { label: "$(output) Show log", run: () => this.output.show() },
      {
        label: "$(gear) Settings",
        run: () =>
          vscode.commands.executeCommand(
            "workbench.action.openSettings",
            "rae.",
          ),
      },
    ];
    const picked = await vscode.window.showQuickPick(items, {
      title: "RAE Memory",
    });
    await picked?.run?.();
  }

  // ---- key --------------------------------------------------------------------------------

  private async setApiKey(): Promise<void> {
    const key = await vscode.window.showInputBox({
      title: "RAE: Set API Key",
      prompt:
        "The rae-pipeline API key (scopes memories:write and memories:read). It is kept in VS Code's secret storage.",
      password: true,
      ignoreFocusOut: true,
      validateInput: (v) =>
        v.trim() === ""
          ? "Paste the key"
          : /\s/.test(v.trim())
            ? "A key has no spaces"
            : undefined,
    });
    if (key === undefined) return;
    await this.context.secrets.store(KEY_SECRET, key.trim());
    this.log("API key set");
    vscode.window.setStatusBarMessage("$(key) RAE: API key saved", 3000);
  }

  private async clearApiKey(): Promise<void> {
    await this.context.secrets.delete(KEY_SECRET);
    vscode.window.setStatusBarMessage("$(key) RAE: API key removed", 3000);
  }

  // ---- recall -----------------------------------------------------------------------------

  private async runRecall(query?: string): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    const selected =
      editor !== undefined && !editor.selection.isEmpty
        ? editor.document.getText(editor.selection).slice(0, 200)
        : "";
    const text =
      query ??
      (await vscode.window.showInputBox({
        title: "RAE: Recall",
        prompt: "Search the memories of this project",
        value: selected,
        validateInput: (v) =>
          v.trim() === "" ? "Type what to search for" : undefined,
      }));
    if (text === undefined) return;
    try {
      await this.recall.search(text);
    } catch (e) {
      this.lastError = (e as Error).message;
      this.render();
      void vscode.window.showErrorMessage(
        `RAE: recall failed: ${(e as Error).message}`,
      );
    }
  }

  private async insert(item?: MemoryItem): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (item === undefined || editor === undefined) return;
    await editor.edit((edit) =>
      edit.replace(editor.selection, item.memory.content),
    );
  }

  private async copy(item?: MemoryItem): Promise<void> {
    if (item === undefined) return;
    await vscode.env.clipboard.writeText(item.memory.content);
    vscode.window.setStatusBarMessage("$(copy) RAE: memory copied", 2000);
  }

  private async openSource(item?: MemoryItem): Promise<void> {
    if (item?.memory.url !== undefined)
      await vscode.env.openExternal(vscode.Uri.parse(item.memory.url));
  }

  // ---- automatic code memory --------------------------------------------------------------

  private async watchCommits(): Promise<void> {
    this.commitWatch?.dispose();
    this.commitWatch = undefined;
    if (!this.settings().get<boolean>("autoCommitMemory", false)) return;
    const git = await gitApi();
    if (git === undefined) {
      this.log("automatic code memory: the git extension is not available");
      return;
    }
    const watched: vscode.Disposable[] = [];
    const watch = (repo: GitRepository): void => {
      if (repo.onDidCommit === undefined) {
        this.log(
          "automatic code memory: this VS Code's git API has no commit event",
        );
        return;
      }
      watched.push(repo.onDidCommit(() => void this.rememberCommit(repo)));
    };
    git.repositories.forEach(watch);
    watched.push(git.onDidOpenRepository(watch));
    this.commitWatch = vscode.Disposable.from(...watched);
    this.log(
      `automatic code memory on for ${git.repositories.length} repositories`,
    );
  }

  private async rememberCommit(repo: GitRepository): Promise<void> {
    const sha = repo.state.HEAD?.commit;
    this.log(`commit ${sha ?? "(unknown)"} made in ${repo.rootUri.fsPath}`);
    if (sha === undefined) return;
    try {
      const commit = await repo.getCommit(sha);
      const files = await repo
        .diffBetween(`${sha}~1`, sha)
        .then((changes) =>
          changes.map((c) => relativePath(repo.rootUri.fsPath, c.uri.fsPath)),
        )
        .catch(() => []);
      const name = repositoryName(repo.rootUri.fsPath);
      const facts: CommitFacts = {
        repository: name,
        sha,
        message: commit.message,
        files,
      };
      const branch = repo.state.HEAD?.name;
      if (branch) facts.branch = branch;
      if (commit.authorName) facts.author = commit.authorName;
      if (commit.commitDate) facts.committedAt = commit.commitDate;
      const remote = safeRemote(
        repo.state.remotes.find((r) => r.name === "origin")?.fetchUrl,
      );
      if (remote !== undefined) facts.remote = remote;
      await this.enqueue(
        `commit:${name}:${sha}`,
        commitBody(facts, this.target().project, new Date()),
      );
    } catch (e) {
      this.log(`commit ${sha} not remembered: ${(e as Error).message}`);
    }
  }
}
