// The CNI server's command queue: commands run one at a time, so IPAM decisions and store commits
// never interleave. A command that fails does not stop the ones queued behind it.

export class CommandQueue {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `fn` after every command queued before it has finished. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => {});
    return next;
  }

  /** Resolves when the commands queued so far have finished. */
  async idle(): Promise<void> {
    await this.tail;
  }
}
