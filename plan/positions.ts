import { isMap, isPair, isScalar, isSeq, LineCounter, type Document, type Node } from 'yaml';

export type FieldPath = readonly (string | number)[];

/** `components[1].dependsOn[0]`: how messages name a field. */
export function formatPath(path: FieldPath): string {
  return (
    path.map((part, i) => (typeof part === 'number' ? `[${part}]` : i === 0 ? part : `.${part}`)).join('') || '(plan)'
  );
}

/** Finds where a field is written in the YAML source: line and column, 1-based. */
export class SourcePositions {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  /**
   * The position of the value at `path`, or of its key with `at: 'key'`. A field that is missing
   * points at the nearest enclosing node that exists.
   */
  of(path: FieldPath, at: 'value' | 'key' = 'value'): { line: number; col: number } {
    let node: unknown = this.doc.contents;
    let found: Node | undefined = this.doc.contents ?? undefined;
    for (const [i, part] of path.entries()) {
      if (isMap(node)) {
        const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && item.key.value === part);
        if (!pair) break;
        const isLast = i === path.length - 1;
        node = pair.value;
        found = ((isLast && at === 'key') || !pair.value ? pair.key : pair.value) as Node;
      } else if (isSeq(node) && typeof part === 'number' && node.items[part]) {
        node = node.items[part];
        found = node as Node;
      } else {
        break;
      }
    }
    const offset = found?.range?.[0] ?? 0;
    return this.lines.linePos(offset);
  }
}
