/**
 * How a POST's stored lines become traffic messages, pure: the lines of one subject (repo and
 * method) go together, in body order, into messages of at most `maxLines` lines and `maxBytes`
 * bytes (the server's payload limit). The same lines always pack the same way, so a retried
 * POST's messages carry the same ids (`<key>:<first line's index>`) and the stream's duplicate
 * window drops them. A message also lists its lines' trace id tokens (`<line>:<token>,…`, the
 * `Havok-Traces` header the trace indexer reads instead of parsing the lines); they count
 * towards `maxBytes`.
 */
import { trafficMessage } from '../../../shared/protocol.js';
import type { StoredLine } from '../pipeline/pipeline.js';

export interface PackedMessage {
  subject: string;
  /** Body index of its first line: the message id's `<index>`. */
  first: number;
  lines: number;
  payload: string;
  /** `<line>:<token>,…` of the lines that carry a trace id; '' when none does. */
  traces: string;
}

export function packLines(lines: readonly StoredLine[], maxBytes: number, maxLines: number): PackedMessage[] {
  const bySubject = new Map<string, StoredLine[]>();
  for (const l of lines) {
    const group = bySubject.get(l.subject);
    if (group) group.push(l);
    else bySubject.set(l.subject, [l]);
  }
  const out: PackedMessage[] = [];
  for (const [subject, group] of bySubject) {
    let part: string[] = [];
    let traces: string[] = [];
    let first = 0;
    let bytes = 0;
    const flush = (): void => {
      if (part.length) out.push({ subject, first, lines: part.length, payload: trafficMessage(part), traces: traces.join(',') });
      part = [];
      traces = [];
      bytes = 0;
    };
    for (const l of group) {
      // +1: the line break before it; a trace entry `<line>:<token>,` (line < 10,000). A line
      // alone over maxBytes was dropped by the pipeline.
      const size = Buffer.byteLength(l.payload) + 1 + (l.trace === undefined ? 0 : l.trace.length + 6);
      if (part.length >= maxLines || (part.length > 0 && bytes + size > maxBytes)) flush();
      if (part.length === 0) first = l.index;
      if (l.trace !== undefined) traces.push(`${part.length}:${l.trace}`);
      part.push(l.payload);
      bytes += size;
    }
    flush();
  }
  return out;
}
