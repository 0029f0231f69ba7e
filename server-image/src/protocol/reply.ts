// FTP reply formatting (RFC 959 section 4.2): one line "123 text", or a multi-line reply
// "123-first", continuation lines, "123 last". Continuation lines that start with a digit are
// indented so a client cannot mistake them for the last line.

export function formatReply(code: number, text: string): string {
  // The common case (every PASV's 227): one line, no CR/LF to split on or replace.
  if (text.indexOf("\n") < 0 && text.indexOf("\r") < 0) return `${code} ${text}\r\n`;
  const lines = text.split(/\r?\n/);
  if (lines.length === 1) return `${code} ${sanitize(lines[0] ?? "")}\r\n`;
  let out = `${code}-${sanitize(lines[0] ?? "")}\r\n`;
  for (let i = 1; i < lines.length - 1; i++) {
    const l = sanitize(lines[i] ?? "");
    out += /^\d/.test(l) ? ` ${l}\r\n` : `${l}\r\n`;
  }
  out += `${code} ${sanitize(lines[lines.length - 1] ?? "")}\r\n`;
  return out;
}

/** A reply line must not carry CR or LF of its own (e.g. from a file name echoed back). */
function sanitize(line: string): string {
  return line.replace(/[\r\n]/g, " ");
}

/** Quote a path for a 257 reply: embedded double quotes are doubled (RFC 959 appendix II). */
export function quotePath(p: string): string {
  return `"${p.replace(/"/g, '""')}"`;
}
