/** A minimal unbounded async queue (one consumer): the message side of a bidi stream. */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private waiter: (() => void) | undefined;
  private done = false;
  private error: Error | undefined;

  /** Queues `x` (ignored once ended). */
  push(x: T): void {
    if (this.done) return;
    this.items.push(x);
    this.wake();
  }

  /** Ends the queue: the consumer gets what is queued, then the end (or `err`). */
  end(err?: Error): void {
    if (this.done) return;
    this.done = true;
    this.error = err;
    this.wake();
  }

  get ended(): boolean {
    return this.done;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      while (this.items.length) yield this.items.shift()!;
      if (this.done) {
        if (this.error) throw this.error;
        return;
      }
      await new Promise<void>((r) => (this.waiter = r));
    }
  }
}
