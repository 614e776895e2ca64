// The part of VS Code's built-in git extension API (`vscode.git`, API version 1) the extension
// uses, typed here because the extension ships no copy of git.d.ts.

import * as vscode from "vscode";

export interface GitBranch {
  name?: string;
  commit?: string;
}

export interface GitRemote {
  name: string;
  fetchUrl?: string;
  pushUrl?: string;
}

export interface GitCommit {
  hash: string;
  message: string;
  authorName?: string;
  authorEmail?: string;
  commitDate?: Date;
}

export interface GitChange {
  uri: vscode.Uri;
}

export interface GitRepository {
  rootUri: vscode.Uri;
  state: {
    HEAD: GitBranch | undefined;
    remotes: GitRemote[];
    onDidChange: vscode.Event<void>;
  };
  /** Fires after a commit made through the git extension (VS Code's Source Control). */
  onDidCommit?: vscode.Event<void>;
  getCommit(ref: string): Promise<GitCommit>;
  diffBetween(ref1: string, ref2: string): Promise<GitChange[]>;
}

export interface GitApi {
  repositories: GitRepository[];
  onDidOpenRepository: vscode.Event<GitRepository>;
  getRepository(uri: vscode.Uri): GitRepository | null;
}

/** The git API, or `undefined` when the git extension is disabled or git is missing. */
export async function gitApi(): Promise<GitApi | undefined> {
  const extension = vscode.extensions.getExtension<{
    enabled: boolean;
    getAPI(version: 1): GitApi;
  }>("vscode.git");
  if (extension === undefined) return undefined;
  try {
    const exports = extension.isActive
      ? extension.exports
      : await extension.activate();
    return exports.enabled ? exports.getAPI(1) : undefined;
  } catch {
    return undefined;
  }
}
