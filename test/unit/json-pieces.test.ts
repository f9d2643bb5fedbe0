import { describe, expect, it } from 'vitest';

import { jsonPieces } from '../../src/cli/output.js';

describe('jsonPieces: a JSON document written in pieces', () => {
  const docs: Array<[string, Record<string, unknown>]> = [
    ['empty', {}],
    ['scalars, nesting, and what JSON.stringify leaves out or turns to null', { ok: true, a: 1, s: 'é"\n', n: null, u: undefined, f: () => 1, o: { x: [1, undefined, 'y'] }, arr: [undefined, () => 1, { z: undefined }], d: new Date(0) }],
    ['empty and nested arrays, and a first key left out', { u: undefined, e: [], nested: [[1, [2]], []], last: 'x' }],
    ['arrays longer than a piece', { ok: true, many: Array.from({ length: 30_000 }, (_, i) => ({ path: `/f${i}`, text: 'x'.repeat(100) })), tail: [1, 2], end: 3 }],
  ];
  for (const [what, doc] of docs) {
    it(`is JSON.stringify of the document: ${what}`, () => {
      expect([...jsonPieces(doc)].join('')).toBe(JSON.stringify(doc));
    });
  }

  it('cuts a long array into pieces of about a MiB, one element past it at most', () => {
    const element = { text: 'y'.repeat(5000) };
    const pieces = [...jsonPieces({ items: Array.from({ length: 1000 }, () => element) })];
    expect(pieces.length).toBeGreaterThan(3);
    for (const piece of pieces) expect(piece.length).toBeLessThan((1 << 20) + JSON.stringify(element).length + 2);
  });
});
