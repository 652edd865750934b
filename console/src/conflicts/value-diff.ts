/** A leaf of a value: a scalar, or an empty object or list, which has no leaves of its own. */
export type Leaf = string | number | boolean | null | { empty: 'object' | 'list' }

/** How one side's leaf differs from the base's leaf at the same path. */
export type Change = 'same' | 'changed' | 'added' | 'removed'

/** One leaf path of a conflict's part, with the three values at that path. */
export interface DiffRow {
  /** Steps from the part's root to the leaf: object keys, element keys or `#1`-style positions. */
  path: string[]
  /** The leaf on each side; undefined where that side has nothing at this path. */
  base: Leaf | undefined
  registry: Leaf | undefined
  fhir: Leaf | undefined
  registryChange: Change
  fhirChange: Change
  /** Whether the registry and FHIR hold different leaves here. */
  sidesDiffer: boolean
}

/**
 * Natural key of a list element, as the merge matches elements: identifiers and telecoms by
 * `system|value`, names and addresses by `use`, codings by `system`. Undefined for anything else,
 * such as a name part, which is then matched by its position.
 */
export function elementKeyOf(element: unknown): string | undefined {
  if (typeof element !== 'object' || element === null || Array.isArray(element)) return undefined
  const record = element as Record<string, unknown>
  if (typeof record.system === 'string' && typeof record.value === 'string') {
    return `${record.system}|${record.value}`
  }
  if (typeof record.use === 'string') return record.use
  if (typeof record.system === 'string') return record.system
  return undefined
}

/** Steps of a list's elements: their natural keys when every element has a distinct one. */
function elementSteps(list: readonly unknown[]): string[] {
  const keys = list.map(elementKeyOf)
  const distinct = new Set(keys)
  if (keys.every((key) => key !== undefined) && distinct.size === keys.length) {
    return keys
  }
  return list.map((_element, index) => `#${index + 1}`)
}

/** Lists the leaves of a JSON value with their paths, in document order. */
export function flattenValue(
  value: unknown,
  path: string[] = [],
): { path: string[]; leaf: Leaf }[] {
  if (Array.isArray(value)) {
    if (value.length === 0) return [{ path, leaf: { empty: 'list' } }]
    const steps = elementSteps(value)
    return value.flatMap((element, index) => flattenValue(element, [...path, steps[index] ?? '']))
  }
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
    if (entries.length === 0) return [{ path, leaf: { empty: 'object' } }]
    return entries.flatMap(([key, member]) => flattenValue(member, [...path, key]))
  }
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    return [{ path, leaf: value }]
  }
  // null and anything JSON cannot hold.
  return [{ path, leaf: null }]
}

function sameLeaf(left: Leaf | undefined, right: Leaf | undefined): boolean {
  if (typeof left === 'object' && left !== null && typeof right === 'object' && right !== null) {
    return left.empty === right.empty
  }
  return left === right
}

/** How `side` differs from `base` at one path. */
export function changeOf(base: Leaf | undefined, side: Leaf | undefined): Change {
  if (sameLeaf(base, side)) return 'same'
  if (base === undefined) return 'added'
  if (side === undefined) return 'removed'
  return 'changed'
}

/** Maps each leaf path of one side to its leaf; a part absent on that side has none. */
function leavesOf(value: unknown): Map<string, { path: string[]; leaf: Leaf }> {
  const leaves = new Map<string, { path: string[]; leaf: Leaf }>()
  if (value === null || value === undefined) return leaves
  for (const entry of flattenValue(value)) leaves.set(JSON.stringify(entry.path), entry)
  return leaves
}

/**
 * Compares the base, registry and FHIR values of a conflict's part leaf by leaf. List elements
 * are matched by their natural key where they have one, so an element added at the front does not
 * shift every later one. Rows come in the base's order, then the registry's new paths, then
 * FHIR's.
 */
export function compareValues(base: unknown, registry: unknown, fhir: unknown): DiffRow[] {
  const sides = [leavesOf(base), leavesOf(registry), leavesOf(fhir)] as const
  const paths = new Map<string, string[]>()
  for (const side of sides) {
    for (const [key, entry] of side) if (!paths.has(key)) paths.set(key, entry.path)
  }

  return [...paths].map(([key, path]) => {
    const [baseLeaf, registryLeaf, fhirLeaf] = sides.map((side) => side.get(key)?.leaf)
    return {
      path,
      base: baseLeaf,
      registry: registryLeaf,
      fhir: fhirLeaf,
      registryChange: changeOf(baseLeaf, registryLeaf),
      fhirChange: changeOf(baseLeaf, fhirLeaf),
      sidesDiffer: !sameLeaf(registryLeaf, fhirLeaf),
    }
  })
}

/** Writes a leaf for people: strings as they are, empty objects and lists in words. */
export function formatLeaf(leaf: Leaf): string {
  if (leaf === null) return 'null'
  if (typeof leaf === 'object') return leaf.empty === 'list' ? '(empty list)' : '(empty object)'
  return String(leaf)
}

/** Writes a path for people, such as `phone|555-0100 › value`; empty for a scalar part. */
export function formatPath(path: readonly string[]): string {
  return path.join(' › ')
}

/**
 * Writes a part's value on one line for the queue: a string as it is, anything else as compact
 * JSON, cut to `maxLength` characters with an ellipsis. `absentText` stands for null.
 */
export function formatCompact(value: unknown, absentText: string, maxLength = 60): string {
  if (value === null || value === undefined) return absentText
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  return text.length > maxLength ? `${text.slice(0, maxLength - 1)}…` : text
}
