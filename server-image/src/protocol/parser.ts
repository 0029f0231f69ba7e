// Command-line framing and parsing for the control connection.
// Lines end in CRLF (bare LF tolerated). Telnet IAC sequences (sent by some clients before
// ABOR) are stripped. A line longer than the configured cap is discarded whole and reported.
//
// BSD ftp and lftp send ABOR as IAC IP, then IAC as TCP urgent data (the Synch), then DM "ABOR".
// Without SO_OOBINLINE the kernel takes the urgent IAC out of the stream, so what arrives is
// IAC IP DM "ABOR" (or IAC IP IAC DM "ABOR" when the urgent byte stays inline): the lone DM, and
// any other telnet command byte left at the start of a line, is dropped too.

export interface Command {
  /** Upper-cased verb, e.g. "RETR". */
  verb: string;
  /** Everything after the first space, untouched (file names may have spaces). */
  arg: string;
}

export function parseCommand(line: string): Command | null {
  const trimmed = line.replace(/^\s+/, "");
  if (trimmed.length === 0) return null;
  const sp = trimmed.indexOf(" ");
  const verb = (sp < 0 ? trimmed : trimmed.slice(0, sp)).toUpperCase();
  if (!/^[A-Z]{3,4}$/.test(verb)) return { verb: "", arg: "" };
  const arg = sp < 0 ? "" : trimmed.slice(sp + 1);
  return { verb, arg };
}

/** What the splitter yields: a complete line, or notice that a line exceeded the cap. */
export type Line = { kind: "line"; text: string } | { kind: "too-long" };

const IAC = 0xff;

/** Removes telnet IAC commands; IAC IAC is a literal 0xFF. */
export function stripTelnet(buf: Buffer): Buffer {
  if (buf.indexOf(IAC) < 0) return buf;
  const out = Buffer.allocUnsafe(buf.length);
  let o = 0;
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i]!;
    if (b !== IAC) {
      out[o++] = b;
      continue;
    }
    const next = buf[i + 1];
    if (next === IAC) {
      out[o++] = IAC;
      i++;
    } else if (next !== undefined && next >= 0xfb && next <= 0xfe) {
      i += 2; // WILL/WONT/DO/DONT + option
    } else {
      i += 1; // IP, DM, etc.
    }
  }
  return out.subarray(0, o);
}

export class LineSplitter {
  private readonly maxLength: number;
  private pending: Buffer[] = [];
  private pendingLength = 0;
  private discarding = false;
  /** Bytes given to feed() and not yet split (shift() splits them one line at a time). */
  private unread: Buffer = Buffer.alloc(0);

  constructor(maxLength: number) {
    this.maxLength = maxLength;
  }

  /** Stores bytes to be split later, line by line, with shift(). */
  feed(chunk: Buffer): void {
    this.unread = this.unread.length ? Buffer.concat([this.unread, chunk]) : chunk;
  }

  /** Bytes fed and not yet split into lines. */
  get unreadLength(): number {
    return this.unread.length;
  }

  /**
   * The next complete line (or too-long notice) from the fed bytes, or null when no line end is
   * left (the partial line is kept for the next feed). Splitting on demand keeps at most what was
   * read, not every command object a chunk holds.
   */
  shift(): Line | null {
    const nl = this.unread.indexOf(0x0a);
    if (nl < 0) {
      if (this.unread.length) this.push(this.unread);
      this.unread = Buffer.alloc(0);
      return null;
    }
    const head = this.unread.subarray(0, nl + 1);
    this.unread = this.unread.subarray(nl + 1);
    return this.push(head)[0] ?? null;
  }

  push(chunk: Buffer): Line[] {
    const out: Line[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      if (this.discarding) {
        this.discarding = false;
        out.push({ kind: "too-long" });
      } else if (this.pendingLength + piece.length > this.maxLength) {
        out.push({ kind: "too-long" });
      } else {
        const whole = this.pending.length ? Buffer.concat([...this.pending, piece]) : piece;
        out.push({ kind: "line", text: decode(whole) });
      }
      this.pending = [];
      this.pendingLength = 0;
      start = nl + 1;
    }
    if (start < chunk.length && !this.discarding) {
      const rest = chunk.subarray(start);
      if (this.pendingLength + rest.length > this.maxLength) {
        this.pending = [];
        this.pendingLength = 0;
        this.discarding = true;
      } else {
        this.pending.push(Buffer.from(rest));
        this.pendingLength += rest.length;
      }
    }
    return out;
  }
}

/** Telnet command codes (SE..IAC, 0xF0-0xFF) cannot start a command verb. */
function isTelnetCode(b: number): boolean {
  return b >= 0xf0;
}

function decode(buf: Buffer): string {
  const clean = stripTelnet(buf);
  let start = 0;
  while (start < clean.length && isTelnetCode(clean[start]!)) start++;
  let end = clean.length;
  if (end > start && clean[end - 1] === 0x0d) end--;
  return clean.toString("utf8", start, end);
}
