/**
 * Appends every item to `into`. `into.push(...items)` passes each item as an argument on the
 * stack and throws RangeError (Maximum call stack size exceeded) past about 120,000 of them:
 * a log of a large vault, an rm -r of a large tree, the chunks of a multi-GB file.
 */
export function pushAll<T>(into: T[], items: Iterable<T>): T[] {
  for (const item of items) into.push(item);
  return into;
}
