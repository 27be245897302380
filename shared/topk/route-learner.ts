/**
 * Route templates learned from the traffic: a path segment that takes many distinct values under
 * the same parent is a variable and becomes `:id`, so
 * `/presentations/logstash-puppetconf-2012/images/kibana-download.png` and its sibling images
 * fold into `/presentations/logstash-puppetconf-2012/images/:id`, as a person would fold them.
 *
 * A trie of the paths seen, in template form, each node counting the requests through it. Once a
 * node has seen more than `foldAfter` distinct child values, it folds: children that carry at
 * least 1/`foldAfter` of its requests stay literal (`/blog/tags`, `/presentations/x/images`),
 * the others go, and every value not kept from then on goes to one `:id` child (which learns its
 * own children again). Segments the fixed rule names already (digits `:id`, UUID `:uuid`, long
 * hex `:hex`; shared/api-name.ts) count as one value each. The first segment never folds: it is
 * the site's structure (`/blog`, `/images`, `/favicon.ico`), not a value.
 *
 * Memory: at most `maxNodes` nodes; past it no node is added and a new segment reads as `:id`.
 * Learning is per process (each replayer learns from what it sends); `peek` names a path, or a
 * template learned earlier, by what is known now without learning, so a summary's keys can be
 * brought up to date.
 */
import { apiTemplate } from '../api-name.js';

export const FOLDED = ':id';

interface Node {
  /** Requests that reached this node. */
  hits: number;
  children?: Map<string, Node>;
  /** Set once the node folded: every value not in `children` maps here. */
  wild?: Node;
}

/** Paths remembered with their template (cleared when full): a hot path is named without a walk. */
const MAX_CACHED = 10_000;

interface Cached {
  template: string;
  /** The nodes the path went through, whose hits a repeat adds to. */
  nodes: Node[];
}

export class RouteLearner {
  private readonly root: Node = { hits: 0 };
  private nodes = 1;
  /**
   * Path (query cut) → template and nodes, valid until a node folds (which drops nodes and changes
   * templates); a new node changes no cached path's template. The walk was ~2 µs per request.
   */
  private readonly cache = new Map<string, Cached>();

  constructor(
    private readonly foldAfter: number,
    private readonly maxNodes = 20_000,
  ) {}

  /** The route template of a URL (path or absolute URL; the query is dropped), learning from it. */
  template(url: string): string {
    const q = url.indexOf('?');
    const key = q < 0 ? url : url.slice(0, q);
    const hit = this.cache.get(key);
    if (hit) {
      this.root.hits++;
      for (const n of hit.nodes) n.hits++;
      return hit.template;
    }
    const nodes: Node[] = [];
    const template = this.walk(apiTemplate(url), nodes);
    if (this.cache.size >= MAX_CACHED) this.cache.clear();
    this.cache.set(key, { template, nodes });
    return template;
  }

  /** The template of a path or an earlier template as the trie stands, learning nothing. */
  peek(pathOrTemplate: string): string {
    return this.walk(pathOrTemplate);
  }

  /** How many trie nodes exist (for the memory bound's test). */
  get size(): number {
    return this.nodes;
  }

  /** Names `path` by the trie; with `visited`, learns from it and lists the nodes it went through. */
  private walk(path: string, visited?: Node[]): string {
    const learn = visited !== undefined;
    if (path === '/' || path.charCodeAt(0) !== 0x2f) return path;
    let node: Node | undefined = this.root;
    if (learn) this.root.hits++;
    // Built only once a segment folds: most paths come back as they are, with no new string.
    let out: string | undefined;
    let depth = 0;
    let start = 1;
    while (start <= path.length) {
      let end = path.indexOf('/', start);
      if (end < 0) end = path.length;
      const seg = path.slice(start, end);
      if (node) {
        const parent: Node = node;
        if (learn) {
          node = this.learnChild(parent, seg, depth);
          node.hits++;
          visited.push(node);
        } else node = parent.children?.get(seg) ?? parent.wild;
        if (node !== undefined && node === parent.wild) out = (out ?? path.slice(0, start - 1)) + '/' + FOLDED;
        else if (out !== undefined) out += '/' + seg;
      } else if (out !== undefined) out += '/' + seg;
      depth++;
      start = end + 1;
    }
    return out ?? path;
  }

  private learnChild(node: Node, seg: string, depth: number): Node {
    const kids = (node.children ??= new Map());
    const known = kids.get(seg);
    if (known) return known;
    if (node.wild) return node.wild;
    if (depth > 0 && kids.size >= this.foldAfter) return this.fold(node);
    if (this.nodes >= this.maxNodes) {
      this.cache.clear();
      return (node.wild = { hits: 0 });
    }
    const n: Node = { hits: 0 };
    kids.set(seg, n);
    this.nodes++;
    return n;
  }

  /** Keeps the children that carry their share of the node's requests; the rest become `:id`. */
  private fold(node: Node): Node {
    this.cache.clear();
    const keep = node.hits / this.foldAfter;
    for (const [seg, child] of node.children!) {
      if (child.hits >= keep) continue;
      this.nodes -= countNodes(child);
      node.children!.delete(seg);
    }
    this.nodes++;
    return (node.wild = { hits: 0 });
  }
}

function countNodes(n: Node): number {
  let c = 1;
  if (n.wild) c += countNodes(n.wild);
  if (n.children) for (const k of n.children.values()) c += countNodes(k);
  return c;
}
