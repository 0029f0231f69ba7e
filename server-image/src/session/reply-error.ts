/** Thrown by a command handler to answer with a specific reply (the session writes it). */
export class Reply extends Error {
  readonly code: number;
  constructor(code: number, text: string) {
    super(text);
    this.code = code;
  }
}
