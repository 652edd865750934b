import { canonicalJson, sameValue } from '../platform/canonical-json.ts'
import type { MergeRule } from './merge-rules.ts'

/**
 * How a field splits into parts that merge on their own.
 * - `value`: the whole field is one part.
 * - `list`: each element is a part, found by its natural key (an identifier by system and value,
 *   a name by use...), so an element added on one side and another added on the other both stay.
 * - `concept`: a CodeableConcept. Each coding is a part keyed by its system, and the text with
 *   the other elements is one more part keyed `text`.
 */
export type FieldShape =
  | { kind: 'value' }
  | { kind: 'list'; keyOf: (item: Record<string, unknown>) => string }
  | { kind: 'concept' }

/** A registry or FHIR record in the merge's terms: field name to value. */
export type MergeView = Record<string, unknown>

export interface MergeTimes {
  /** When the registry last changed the field. */
  registryChangedAt: (field: string) => Date
  /** `meta.lastUpdated` of the FHIR version; null when HAPI gave none. */
  fhirChangedAt: Date | null
  /** Changes at most this far apart count as concurrent: neither clock can order them. */
  clockSkewMs: number
}

export interface MergeInput {
  /** The values both sides last agreed on; null when unknown, which counts as the registry's. */
  base: MergeView | null
  registry: MergeView
  fhir: MergeView
  shapes: Readonly<Record<string, FieldShape>>
  rules: Readonly<Record<string, MergeRule>>
  times: MergeTimes
}

/** A field, or one element of a list field, that both sides changed to different values. */
export interface FieldClash {
  field: string
  /** Natural key of the element; null when the clash is about the whole field. */
  itemKey: string | null
  /** Values of the part; undefined where the part is absent (an element removed or never there). */
  base: unknown
  registry: unknown
  fhir: unknown
  rule: MergeRule
  /**
   * Outcome of the rule: `lww-registry` or `lww-fhir` by last-writer-wins, `fhir-rule` for a
   * FHIR-owned field, or null when it waits for a steward and the registry keeps its value.
   */
  resolution: 'lww-registry' | 'lww-fhir' | 'fhir-rule' | null
}

/** A registry-owned part that FHIR changed: the registry value stays and the next push puts it back. */
export interface FieldRevert {
  field: string
  itemKey: string | null
  fhir: unknown
  registry: unknown
}

export interface MergeResult {
  merged: MergeView
  clashes: FieldClash[]
  reverts: FieldRevert[]
  /** True when the merged view differs from the registry's, so the row must be updated. */
  registryChanged: boolean
  /** True when the merged view differs from FHIR's, so a push must follow. */
  fhirBehind: boolean
}

/** Key of the single part of a `value` field. */
const WHOLE = ''
/** Key of a concept's text and other non-coding elements. */
const CONCEPT_TEXT = 'text'
/** Joins a natural key and an element's content in the key of an element whose natural key repeats. */
const CONTENT_MARK = ' ~ '

/**
 * Merges FHIR's changes into the registry's values, part by part, against the common base. A part
 * only one side changed takes that side's value; a part both changed to different values goes to
 * the field's rule. The function is pure: the same input always gives the same result.
 */
export function mergeFields(input: MergeInput): MergeResult {
  const { registry, fhir, shapes } = input
  const base = input.base ?? registry
  const merged: MergeView = {}
  const clashes: FieldClash[] = []
  const reverts: FieldRevert[] = []

  for (const field of Object.keys(registry)) {
    const shape = shapes[field] ?? { kind: 'value' }
    const rule = input.rules[field] ?? 'lww'
    const byContent = repeatedKeys(shape, [base[field], registry[field], fhir[field]])
    const baseParts = partsOf(shape, base[field], byContent)
    const registryParts = partsOf(shape, registry[field], byContent)
    const fhirParts = partsOf(shape, fhir[field], byContent)
    const keys = [...new Set([...registryParts.keys(), ...fhirParts.keys()])]
    const result = new Map<string, unknown>()
    let tookFhir = false

    for (const key of keys) {
      const part = {
        base: baseParts.get(key),
        registry: registryParts.get(key),
        fhir: fhirParts.get(key),
      }
      const itemKey = key === WHOLE ? null : key
      const decision = decide(part, rule, () => laterWriter(field, input.times))
      if (decision.revert)
        reverts.push({ field, itemKey, fhir: part.fhir, registry: part.registry })
      if (decision.clash !== undefined) {
        clashes.push({ field, itemKey, ...part, rule, resolution: decision.clash })
      }
      const value = decision.take === 'fhir' ? part.fhir : part.registry
      if (decision.take === 'fhir') tookFhir = true
      if (value !== undefined) result.set(key, value)
    }
    merged[field] = tookFhir ? assemble(shape, result) : registry[field]
  }

  return {
    merged,
    clashes,
    reverts,
    registryChanged: !sameValue(merged, registry),
    fhirBehind: Object.keys(merged).some((field) => !sameValue(merged[field], fhir[field])),
  }
}

interface Decision {
  take: 'registry' | 'fhir'
  revert?: true
  /** Set when both sides changed the part: how the rule settled it. */
  clash?: FieldClash['resolution']
}

function decide(
  part: { base: unknown; registry: unknown; fhir: unknown },
  rule: MergeRule,
  later: () => 'registry' | 'fhir' | null,
): Decision {
  if (sameValue(part.registry, part.fhir)) return { take: 'registry' }
  const registryMoved = !sameValue(part.base, part.registry)
  const fhirMoved = !sameValue(part.base, part.fhir)
  if (!fhirMoved) return { take: 'registry' }
  if (rule === 'registry') return { take: 'registry', revert: true }
  if (!registryMoved) return { take: 'fhir' }

  if (rule === 'fhir') return { take: 'fhir', clash: 'fhir-rule' }
  if (rule === 'manual') return { take: 'registry', clash: null }
  const winner = later()
  if (winner === 'fhir') return { take: 'fhir', clash: 'lww-fhir' }
  if (winner === 'registry') return { take: 'registry', clash: 'lww-registry' }
  return { take: 'registry', clash: null }
}

/**
 * The side that changed the field later, or null when the two changes lie within the clock-skew
 * window. The registry's clock and HAPI's can disagree by a little, so two changes that close
 * cannot be ordered honestly. A guess would silently drop one of them, so a steward decides.
 */
function laterWriter(field: string, times: MergeTimes): 'registry' | 'fhir' | null {
  if (times.fhirChangedAt === null) return 'registry'
  const gapMs = times.fhirChangedAt.getTime() - times.registryChangedAt(field).getTime()
  if (Math.abs(gapMs) <= times.clockSkewMs) return null
  return gapMs > 0 ? 'fhir' : 'registry'
}

/** Lists the elements of a list field, or the codings of a concept, with their natural keys. */
function keyedElements(shape: FieldShape, value: unknown): [string, unknown][] {
  if (shape.kind === 'list') {
    const items: unknown[] = Array.isArray(value) ? value : []
    return items.map((item) => [shape.keyOf(item as Record<string, unknown>), item])
  }
  if (shape.kind === 'value') return []
  const { coding } = (value ?? {}) as { coding?: unknown }
  const codings: unknown[] = Array.isArray(coding) ? coding : []
  return codings.map((item) => {
    const system = (item as { system?: unknown }).system
    return [typeof system === 'string' ? system : '(no system)', item]
  })
}

/**
 * Natural keys that more than one element carries in any of the values, such as two names
 * without `use`. Pairing such elements by position would pair the wrong ones once a side
 * removes one, so their parts are keyed by content: an edit reads as a removal plus an addition,
 * and no change of either side is lost.
 */
function repeatedKeys(shape: FieldShape, values: readonly unknown[]): Set<string> {
  const repeated = new Set<string>()
  for (const value of values) {
    const seen = new Set<string>()
    for (const [key] of keyedElements(shape, value)) {
      if (seen.has(key)) repeated.add(key)
      seen.add(key)
    }
  }
  return repeated
}

/** Splits a field's value into its parts, in order, keyed by natural key (or content, see above). */
function partsOf(
  shape: FieldShape,
  value: unknown,
  byContent: ReadonlySet<string>,
): Map<string, unknown> {
  const parts = new Map<string, unknown>()
  if (shape.kind === 'value') {
    parts.set(WHOLE, value ?? null)
    return parts
  }

  for (const [key, item] of keyedElements(shape, value)) {
    addKeyed(parts, byContent.has(key) ? `${key}${CONTENT_MARK}${canonicalJson(item)}` : key, item)
  }
  if (shape.kind === 'concept') {
    const rest: Record<string, unknown> = { ...(value ?? {}) }
    delete rest.coding
    if (Object.keys(rest).length > 0) parts.set(CONCEPT_TEXT, rest)
  }
  return parts
}

/** Splits a single value into parts so that `itemKey`, from an earlier merge, finds its element. */
function partsForKey(
  shape: FieldShape,
  value: unknown,
  itemKey: string | null,
): Map<string, unknown> {
  const byContent = repeatedKeys(shape, [value])
  for (const [key] of keyedElements(shape, value)) {
    if (itemKey?.startsWith(`${key}${CONTENT_MARK}`)) byContent.add(key)
  }
  return partsOf(shape, value, byContent)
}

/** Adds a keyed part; an identical second element becomes `key #2`, and so on. */
function addKeyed(parts: Map<string, unknown>, key: string, item: unknown): void {
  let unique = key
  for (let occurrence = 2; parts.has(unique); occurrence++) unique = `${key} #${occurrence}`
  parts.set(unique, item)
}

/** Builds a field's value back from its parts. */
function assemble(shape: FieldShape, parts: Map<string, unknown>): unknown {
  if (shape.kind === 'value') return parts.get(WHOLE) ?? null
  if (shape.kind === 'list') return [...parts.values()]

  const coding = [...parts].filter(([key]) => key !== CONCEPT_TEXT).map(([, item]) => item)
  const rest = (parts.get(CONCEPT_TEXT) ?? {}) as Record<string, unknown>
  return coding.length > 0 ? { ...rest, coding } : { ...rest }
}

/** Reads one part of a field (the whole field when `itemKey` is null); undefined if absent. */
export function partValue(shape: FieldShape, value: unknown, itemKey: string | null): unknown {
  return partsForKey(shape, value, itemKey).get(itemKey ?? WHOLE)
}

/**
 * Returns the field's value with one part replaced: set when `part` is defined (an element the
 * list lacks is appended), removed when it is undefined.
 */
export function withPartValue(
  shape: FieldShape,
  value: unknown,
  itemKey: string | null,
  part: unknown,
): unknown {
  if (shape.kind === 'value') return part ?? null
  const parts = partsForKey(shape, value, itemKey)
  const key = itemKey ?? WHOLE
  if (part === undefined) parts.delete(key)
  else parts.set(key, part)
  return assemble(shape, parts)
}

/**
 * Sets the parts that wait for a steward to FHIR's values in the registry's view, so a push
 * carries neither side's value of a clash into FHIR before someone settles it.
 */
export function withHeldBackParts(
  shapes: Readonly<Record<string, FieldShape>>,
  registry: MergeView,
  fhir: MergeView,
  heldBack: readonly { field: string; itemKey: string | null }[],
): MergeView {
  const result = { ...registry }
  for (const { field, itemKey } of heldBack) {
    if (!(field in result)) continue
    const shape = shapes[field] ?? { kind: 'value' }
    result[field] = withPartValue(
      shape,
      result[field],
      itemKey,
      partValue(shape, fhir[field], itemKey),
    )
  }
  return result
}
