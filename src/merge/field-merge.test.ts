import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { ConditionFields } from '../conditions/condition.schemas.ts'
import { ICD_10_CM, SNOMED_CT } from '../fhir/constants.ts'
import type { PatientFields } from '../patients/patient.schemas.ts'
import { canonicalJson, sameValue } from '../platform/canonical-json.ts'
import { mergeFields, partValue, withHeldBackParts, withPartValue } from './field-merge.ts'
import type { FieldShape, MergeInput, MergeResult, MergeTimes, MergeView } from './field-merge.ts'
import { CONDITION_MERGE_FIELDS, MERGE_RULE_NAMES, PATIENT_MERGE_FIELDS } from './merge-rules.ts'
import type { MergeRule } from './merge-rules.ts'
import {
  CONDITION_FIELD_SHAPES,
  PATIENT_FIELD_SHAPES,
  conditionMergeView,
  patientMergeView,
} from './merge-views.ts'

type HumanName = PatientFields['names'][number]
type Identifier = PatientFields['identifiers'][number]
type ContactPoint = PatientFields['telecom'][number]
type Address = PatientFields['addresses'][number]
type CodeableConcept = ConditionFields['code']
type Coding = NonNullable<CodeableConcept['coding']>[number]
type Side = 'registry' | 'fhir'

const REGISTRY_SYSTEM = 'https://brain-registry.example.org/fhir/sid/patient'
const MRN_SYSTEM = 'https://hospital.example.org/fhir/sid/mrn'
const NHS_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number'
const T0_MS = Date.UTC(2024, 4, 1, 12)

// Small value pools, so that the two sides often pick the same natural key with different
// contents (a clash), the same element (no change) or a key the other side lacks (an addition).

const nameArb: fc.Arbitrary<HumanName> = fc.record(
  {
    use: fc.constantFrom('official', 'maiden'),
    family: fc.constantFrom('Okafor', 'Lindqvist'),
    given: fc.constantFrom(['Ada'], ['Ada', 'Mae']),
  },
  { requiredKeys: ['family'] },
)

const identifierArb: fc.Arbitrary<Identifier> = fc.record(
  {
    system: fc.constantFrom(MRN_SYSTEM, NHS_SYSTEM, REGISTRY_SYSTEM),
    value: fc.constantFrom('1001', '1002'),
    use: fc.constantFrom('usual', 'old'),
  },
  { requiredKeys: ['system', 'value'] },
)

const contactPointArb: fc.Arbitrary<ContactPoint> = fc.record(
  {
    system: fc.constantFrom('phone', 'email'),
    value: fc.constantFrom('+44 20 7946 0958', 'ada@example.org'),
    use: fc.constantFrom('home', 'work'),
  },
  { requiredKeys: ['system', 'value'] },
)

const addressArb: fc.Arbitrary<Address> = fc.record(
  { use: fc.constantFrom('home', 'work'), city: fc.constantFrom('London', 'Leeds') },
  { requiredKeys: ['city'] },
)

const codingArb: fc.Arbitrary<Coding> = fc.record(
  {
    system: fc.constantFrom(SNOMED_CT, ICD_10_CM),
    code: fc.constantFrom('84757009', 'G40.909'),
    display: fc.constantFrom('Epilepsy'),
  },
  { requiredKeys: ['code'] },
)

const conceptTextArb = fc.constantFrom('Epilepsy', 'Focal epilepsy')

const timingArb = fc.constantFrom(
  null,
  { dateTime: '2015-01' },
  { dateTime: '2016-03-02' },
  { string: 'in childhood' },
)

interface Triple<T> {
  base: T
  registry: T
  fhir: T
}

/** Derives a list from `base` by keeping, dropping or replacing each element and adding some. */
function editedList<T>(element: fc.Arbitrary<T>, base: readonly T[]): fc.Arbitrary<T[]> {
  const edited = fc
    .record({
      actions: fc.array(fc.constantFrom('keep', 'drop', 'replace'), {
        minLength: base.length,
        maxLength: base.length,
      }),
      replacements: fc.array(element, { minLength: base.length, maxLength: base.length }),
      added: fc.array(element, { maxLength: 2 }),
    })
    .map(({ actions, replacements, added }) => [
      ...base.flatMap((item, index) => {
        if (actions[index] === 'drop') return []
        return [actions[index] === 'replace' ? (replacements[index] ?? item) : item]
      }),
      ...added,
    ])
  return fc.oneof(
    { arbitrary: fc.constant<T[]>([...base]), weight: 2 },
    { arbitrary: edited, weight: 3 },
    { arbitrary: fc.array(element, { maxLength: 3 }), weight: 1 },
  )
}

function listTriple<T>(element: fc.Arbitrary<T>): fc.Arbitrary<Triple<T[]>> {
  return fc.array(element, { maxLength: 3 }).chain((base) =>
    fc.record({
      base: fc.constant(base),
      registry: editedList(element, base),
      fhir: editedList(element, base),
    }),
  )
}

function valueTriple<T>(value: fc.Arbitrary<T>): fc.Arbitrary<Triple<T>> {
  const variant = (base: T) =>
    fc.oneof({ arbitrary: fc.constant(base), weight: 2 }, { arbitrary: value, weight: 1 })
  return value.chain((base) =>
    fc.record({ base: fc.constant(base), registry: variant(base), fhir: variant(base) }),
  )
}

function conceptOf(coding: Coding[], text: string | undefined): CodeableConcept {
  return {
    ...(coding.length > 0 ? { coding } : {}),
    ...(text === undefined ? {} : { text }),
  }
}

function conceptTriple(): fc.Arbitrary<Triple<CodeableConcept>> {
  const text = fc.option(conceptTextArb, { nil: undefined })
  return fc.record({ coding: fc.array(codingArb, { maxLength: 3 }), text }).chain((base) => {
    const variant = fc
      .record({
        coding: editedList(codingArb, base.coding),
        text: fc.oneof({ arbitrary: fc.constant(base.text), weight: 2 }, text),
      })
      .map(({ coding, text: variantText }) => conceptOf(coding, variantText))
    return fc.record({
      base: fc.constant(conceptOf(base.coding, base.text)),
      registry: variant,
      fhir: variant,
    })
  })
}

function unzip<F>(triples: { [K in keyof F]: Triple<F[K]> }): Triple<F> {
  const sideOf = (side: keyof Triple<unknown>) =>
    Object.fromEntries(
      Object.entries(triples).map(([field, triple]) => [field, (triple as Triple<unknown>)[side]]),
    ) as F
  return { base: sideOf('base'), registry: sideOf('registry'), fhir: sideOf('fhir') }
}

const patientViewsArb: fc.Arbitrary<Triple<MergeView>> = fc
  .record({
    names: listTriple(nameArb),
    birthDate: valueTriple(fc.constantFrom(null, '1970-01-01', '1982-06')),
    gender: valueTriple(fc.constantFrom(null, 'male', 'female', 'other', 'unknown')),
    identifiers: listTriple(identifierArb),
    telecom: listTriple(contactPointArb),
    addresses: listTriple(addressArb),
    deceased: valueTriple(
      fc.constantFrom(null, { boolean: false }, { boolean: true }, { dateTime: '2021-03-04' }),
    ),
  })
  .map((triples) => {
    const fields = unzip<PatientFields>(triples)
    return {
      base: patientMergeView(fields.base, REGISTRY_SYSTEM),
      registry: patientMergeView(fields.registry, REGISTRY_SYSTEM),
      fhir: patientMergeView(fields.fhir, REGISTRY_SYSTEM),
    }
  })

const conditionViewsArb: fc.Arbitrary<Triple<MergeView>> = fc
  .record({
    code: conceptTriple(),
    clinicalStatus: valueTriple(fc.constantFrom(null, 'active', 'remission', 'resolved')),
    verificationStatus: valueTriple(fc.constantFrom(null, 'provisional', 'confirmed', 'refuted')),
    onset: valueTriple(timingArb),
    abatement: valueTriple(timingArb),
    recordedDate: valueTriple(fc.constantFrom(null, '2015-02-01', '2019-11-20T10:00:00Z')),
  })
  .map((triples) => {
    const fields = unzip<ConditionFields>(triples)
    return {
      base: conditionMergeView(fields.base),
      registry: conditionMergeView(fields.registry),
      fhir: conditionMergeView(fields.fhir),
    }
  })

/** Plain data behind a MergeInput, so that fast-check prints a readable counterexample. */
interface MergeCase {
  entity: 'patient' | 'condition'
  base: MergeView | null
  registry: MergeView
  fhir: MergeView
  rules: Record<string, MergeRule>
  registryChangedMs: Record<string, number>
  fhirChangedMs: number | null
  clockSkewMs: number
}

/**
 * Generates change times that often lie exactly on the skew window's bound, one millisecond past
 * it, or inside it, and sometimes anywhere.
 */
function timesArb(fields: readonly string[]) {
  return fc
    .record({
      clockSkewMs: fc.oneof(fc.constantFrom(0, 2_000), fc.integer({ min: 0, max: 5_000 })),
      fhirChangedMs: fc.option(fc.integer({ min: T0_MS, max: T0_MS + 10_000 }), {
        nil: null,
        freq: 8,
      }),
    })
    .chain(({ clockSkewMs, fhirChangedMs }) => {
      const anchorMs = fhirChangedMs ?? T0_MS
      const changedMs = fc.oneof(
        fc.constantFrom(
          anchorMs - clockSkewMs - 1,
          anchorMs - clockSkewMs,
          anchorMs,
          anchorMs + clockSkewMs,
          anchorMs + clockSkewMs + 1,
        ),
        fc.integer({ min: T0_MS - 10_000, max: T0_MS + 20_000 }),
      )
      return fc.record({
        clockSkewMs: fc.constant(clockSkewMs),
        fhirChangedMs: fc.constant(fhirChangedMs),
        registryChangedMs: fc.record(Object.fromEntries(fields.map((field) => [field, changedMs]))),
      })
    })
}

function rulesArb(fields: readonly string[]): fc.Arbitrary<Record<string, MergeRule>> {
  return fc.record(
    Object.fromEntries(fields.map((field) => [field, fc.constantFrom(...MERGE_RULE_NAMES)])),
  )
}

function casesOf(
  entity: MergeCase['entity'],
  views: fc.Arbitrary<Triple<MergeView>>,
  fields: readonly string[],
): fc.Arbitrary<MergeCase> {
  return fc
    .record({
      views,
      baseKnown: fc.oneof(
        { arbitrary: fc.constant(true), weight: 9 },
        { arbitrary: fc.constant(false), weight: 1 },
      ),
      rules: rulesArb(fields),
      times: timesArb(fields),
    })
    .map(({ views: { base, registry, fhir }, baseKnown, rules, times }) => ({
      entity,
      base: baseKnown ? base : null,
      registry,
      fhir,
      rules,
      ...times,
    }))
}

const MERGE_CASES: fc.Arbitrary<MergeCase> = fc.oneof(
  casesOf('patient', patientViewsArb, PATIENT_MERGE_FIELDS),
  casesOf('condition', conditionViewsArb, CONDITION_MERGE_FIELDS),
)

function withEveryRule(mergeCase: MergeCase, rule: MergeRule): MergeCase {
  const rules = Object.fromEntries(Object.keys(mergeCase.rules).map((field) => [field, rule]))
  return { ...mergeCase, rules }
}

function shapesOf(entity: MergeCase['entity']): Readonly<Record<string, FieldShape>> {
  return entity === 'patient' ? PATIENT_FIELD_SHAPES : CONDITION_FIELD_SHAPES
}

function inputOf(mergeCase: MergeCase): MergeInput {
  const { registryChangedMs } = mergeCase
  return {
    base: mergeCase.base,
    registry: mergeCase.registry,
    fhir: mergeCase.fhir,
    shapes: shapesOf(mergeCase.entity),
    rules: mergeCase.rules,
    times: {
      registryChangedAt: (field) => {
        const changedMs = registryChangedMs[field]
        if (changedMs === undefined) throw new Error(`No change time for field ${field}`)
        return new Date(changedMs)
      },
      fhirChangedAt: mergeCase.fhirChangedMs === null ? null : new Date(mergeCase.fhirChangedMs),
      clockSkewMs: mergeCase.clockSkewMs,
    },
  }
}

/** Lists the natural keys of a list's elements or a concept's codings, with the elements. */
function naturalKeys(shape: FieldShape, value: unknown): [string, unknown][] {
  if (shape.kind === 'value') return []
  if (shape.kind === 'list') {
    return ((value ?? []) as Record<string, unknown>[]).map((item) => [shape.keyOf(item), item])
  }
  const { coding } = (value ?? {}) as { coding?: { system?: string }[] }
  return (coding ?? []).map((item) => [item.system ?? '(no system)', item])
}

/** Lists the natural keys that occur more than once within any one of the values. */
function repeatedKeysOf(shape: FieldShape, values: unknown[]): Set<string> {
  const repeated = new Set<string>()
  for (const value of values) {
    const keys = naturalKeys(shape, value).map(([key]) => key)
    keys.filter((key, index) => keys.indexOf(key) !== index).forEach((key) => repeated.add(key))
  }
  return repeated
}

/**
 * Lists the keys of a value's parts as the merge names them in clashes: a list element's natural
 * key, a coding's system or `(no system)`, `text` for the rest of a concept. A natural key in
 * `repeated` is followed by ` ~ ` and the element's canonical JSON, and an identical element
 * again by ` #2`.
 */
function partKeys(
  shape: FieldShape,
  value: unknown,
  repeated: Set<string> = repeatedKeysOf(shape, [value]),
): (string | null)[] {
  if (shape.kind === 'value') return [null]
  const keys: string[] = []
  for (const [key, item] of naturalKeys(shape, value)) {
    const keyed = repeated.has(key) ? `${key} ~ ${canonicalJson(item)}` : key
    let unique = keyed
    for (let occurrence = 2; keys.includes(unique); occurrence++) {
      unique = `${keyed} #${occurrence}`
    }
    keys.push(unique)
  }
  if (shape.kind === 'concept') {
    const rest: Record<string, unknown> = { ...(value ?? {}) }
    delete rest.coding
    if (Object.keys(rest).length > 0) keys.push('text')
  }
  return keys
}

interface Part {
  field: string
  itemKey: string | null
  rule: MergeRule
  base: unknown
  registry: unknown
  fhir: unknown
}

/** Lists every part of every registry field; an unknown base counts as the registry's view. */
function partsOf(input: MergeInput): Part[] {
  const base = input.base ?? input.registry
  return Object.keys(input.registry).flatMap((field) => {
    const shape = input.shapes[field] ?? { kind: 'value' }
    const rule = input.rules[field] ?? 'lww'
    const repeated = repeatedKeysOf(shape, [base[field], input.registry[field], input.fhir[field]])
    const keys = new Set([
      ...partKeys(shape, input.registry[field], repeated),
      ...partKeys(shape, input.fhir[field], repeated),
    ])
    return [...keys].map((itemKey) => ({
      field,
      itemKey,
      rule,
      base: partValue(shape, base[field], itemKey),
      registry: partValue(shape, input.registry[field], itemKey),
      fhir: partValue(shape, input.fhir[field], itemKey),
    }))
  })
}

function changed(before: unknown, after: unknown): boolean {
  return !sameValue(before, after)
}

function onlyRegistryChanged(part: Part): boolean {
  return changed(part.base, part.registry) && !changed(part.base, part.fhir)
}

function onlyFhirChanged(part: Part): boolean {
  return !changed(part.base, part.registry) && changed(part.base, part.fhir)
}

function bothChangedDifferently(part: Part): boolean {
  return (
    changed(part.base, part.registry) &&
    changed(part.base, part.fhir) &&
    changed(part.registry, part.fhir)
  )
}

function clashOf(result: MergeResult, part: Part) {
  return result.clashes.find(
    (clash) => clash.field === part.field && clash.itemKey === part.itemKey,
  )
}

function revertOf(result: MergeResult, part: Part) {
  return result.reverts.find(
    (revert) => revert.field === part.field && revert.itemKey === part.itemKey,
  )
}

/**
 * Names the side whose value a part should take: the side that alone changed it (FHIR only when the
 * rule lets FHIR in), or for a clash the side its reported resolution names.
 */
function sideTaken(part: Part, result: MergeResult): Side {
  const clash = clashOf(result, part)
  if (clash)
    return clash.resolution === 'lww-fhir' || clash.resolution === 'fhir-rule' ? 'fhir' : 'registry'
  if (part.rule !== 'registry' && onlyFhirChanged(part)) return 'fhir'
  return 'registry'
}

/** Lists the parts of a field value as sorted canonical JSON, whatever their keys. */
function piecesOf(shape: FieldShape, value: unknown): string[] {
  return partKeys(shape, value)
    .map((key) => canonicalJson(partValue(shape, value, key)))
    .sort()
}

/**
 * Checks that each merged field contains exactly the parts `sideTaken` names. Elements are
 * compared as a multiset, because the merged list orders them registry first, then FHIR's
 * additions.
 */
function expectMergedParts(input: MergeInput, result: MergeResult): void {
  const parts = partsOf(input)
  for (const field of Object.keys(input.registry)) {
    const shape = input.shapes[field] ?? { kind: 'value' }
    const expected = parts
      .filter((part) => part.field === field)
      .map((part) => (sideTaken(part, result) === 'fhir' ? part.fhir : part.registry))
      .filter((value) => value !== undefined)
      .map((value) => canonicalJson(value))
      .sort()
    expect(piecesOf(shape, result.merged[field]), `merged ${field}`).toEqual(expected)
  }
}

describe('mergeFields', () => {
  it('returns the registry view when FHIR is unchanged', () => {
    fc.assert(
      fc.property(MERGE_CASES, (mergeCase) => {
        const fhir = structuredClone(mergeCase.base ?? mergeCase.registry)
        const input = inputOf({ ...mergeCase, fhir })

        const result = mergeFields(input)

        expect(result.merged).toEqual(input.registry)
        expect(result.clashes).toEqual([])
        expect(result.reverts).toEqual([])
        expect(result.registryChanged).toBe(false)
      }),
    )
  })

  it('keeps a part only the registry changed', () => {
    fc.assert(
      fc.property(MERGE_CASES, (mergeCase) => {
        const input = inputOf(mergeCase)

        const result = mergeFields(input)

        for (const part of partsOf(input).filter(onlyRegistryChanged)) {
          expect(clashOf(result, part), `clash on ${part.field}`).toBeUndefined()
          expect(revertOf(result, part), `revert on ${part.field}`).toBeUndefined()
        }
        expectMergedParts(input, result)
      }),
    )
  })

  it('takes a part only FHIR changed unless the registry owns it', () => {
    fc.assert(
      fc.property(MERGE_CASES, (mergeCase) => {
        const input = inputOf(mergeCase)

        const result = mergeFields(input)

        for (const part of partsOf(input).filter(onlyFhirChanged)) {
          expect(clashOf(result, part), `clash on ${part.field}`).toBeUndefined()
          if (part.rule === 'registry') {
            expect(revertOf(result, part), `revert on ${part.field}`).toEqual({
              field: part.field,
              itemKey: part.itemKey,
              fhir: part.fhir,
              registry: part.registry,
            })
          } else {
            expect(revertOf(result, part), `revert on ${part.field}`).toBeUndefined()
          }
        }
        expectMergedParts(input, result)
      }),
    )
  })

  it('reports a clash exactly where both sides changed a part differently', () => {
    fc.assert(
      fc.property(MERGE_CASES, (mergeCase) => {
        const input = inputOf(mergeCase)

        const result = mergeFields(input)

        const clashing = partsOf(input).filter(
          (part) => part.rule !== 'registry' && bothChangedDifferently(part),
        )
        expect(result.clashes.map(({ field, itemKey }) => ({ field, itemKey }))).toEqual(
          clashing.map(({ field, itemKey }) => ({ field, itemKey })),
        )
        for (const part of clashing) {
          expect(clashOf(result, part)).toMatchObject({
            base: part.base,
            registry: part.registry,
            fhir: part.fhir,
            rule: part.rule,
          })
        }
      }),
    )
  })

  it('flags which side must be updated', () => {
    fc.assert(
      fc.property(MERGE_CASES, (mergeCase) => {
        const input = inputOf(mergeCase)

        const result = mergeFields(input)

        const fields = Object.keys(input.registry)
        expect(result.registryChanged).toBe(changed(input.registry, result.merged))
        expect(result.fhirBehind).toBe(
          fields.some((field) => changed(result.merged[field], input.fhir[field])),
        )
      }),
    )
  })

  it('is deterministic and leaves its input alone', () => {
    fc.assert(
      fc.property(MERGE_CASES, (mergeCase) => {
        const before = structuredClone(mergeCase)

        const result = mergeFields(inputOf(mergeCase))

        expect(mergeFields(inputOf(mergeCase))).toEqual(result)
        expect(mergeFields(inputOf(structuredClone(mergeCase)))).toEqual(result)
        expect(mergeCase).toEqual(before)
      }),
    )
  })

  it('changes nothing when the same FHIR version comes again', () => {
    fc.assert(
      fc.property(MERGE_CASES, (mergeCase) => {
        const first = mergeFields(inputOf(mergeCase))

        const second = mergeFields(
          inputOf({ ...mergeCase, base: mergeCase.fhir, registry: first.merged }),
        )

        expect(second.merged).toEqual(first.merged)
        expect(second.clashes).toEqual([])
        expect(second.reverts).toEqual([])
        expect(second.registryChanged).toBe(false)
      }),
    )
  })

  it('reports no clash when both sides made the same change', () => {
    fc.assert(
      fc.property(MERGE_CASES, (mergeCase) => {
        const input = inputOf({ ...mergeCase, fhir: structuredClone(mergeCase.registry) })

        const result = mergeFields(input)

        expect(result.clashes).toEqual([])
        expect(result.reverts).toEqual([])
        expect(result.merged).toEqual(input.registry)
        expect(result.registryChanged).toBe(false)
        expect(result.fhirBehind).toBe(false)
      }),
    )
  })

  it('keeps every FHIR value out of a registry-owned field', () => {
    fc.assert(
      fc.property(MERGE_CASES, (mergeCase) => {
        const input = inputOf(withEveryRule(mergeCase, 'registry'))

        const result = mergeFields(input)

        expect(result.merged).toEqual(input.registry)
        expect(result.clashes).toEqual([])
        const reverted = partsOf(input).filter(
          (part) => changed(part.base, part.fhir) && changed(part.registry, part.fhir),
        )
        expect(result.reverts).toEqual(
          reverted.map(({ field, itemKey, fhir, registry }) => ({
            field,
            itemKey,
            fhir,
            registry,
          })),
        )
      }),
    )
  })

  it('takes FHIR on a clash under the fhir rule', () => {
    fc.assert(
      fc.property(MERGE_CASES, (mergeCase) => {
        const input = inputOf(withEveryRule(mergeCase, 'fhir'))

        const result = mergeFields(input)

        for (const clash of result.clashes) {
          expect(clash.resolution, `${clash.field} ${String(clash.itemKey)}`).toBe('fhir-rule')
        }
        expect(result.reverts).toEqual([])
        expectMergedParts(input, result)
      }),
    )
  })

  it('keeps the registry on a clash under the manual rule', () => {
    fc.assert(
      fc.property(MERGE_CASES, (mergeCase) => {
        const input = inputOf(withEveryRule(mergeCase, 'manual'))

        const result = mergeFields(input)

        for (const clash of result.clashes) {
          expect(clash.resolution, `${clash.field} ${String(clash.itemKey)}`).toBeNull()
        }
        expect(result.reverts).toEqual([])
        expectMergedParts(input, result)
      }),
    )
  })

  it('takes the later side outside the skew window under lww', () => {
    fc.assert(
      fc.property(MERGE_CASES, (mergeCase) => {
        const input = inputOf(withEveryRule(mergeCase, 'lww'))
        const { times } = input

        const result = mergeFields(input)

        for (const clash of result.clashes) {
          const label = `${clash.field} ${String(clash.itemKey)}`
          if (times.fhirChangedAt === null) {
            expect(clash.resolution, label).toBe('lww-registry')
            continue
          }
          const gapMs =
            times.fhirChangedAt.getTime() - times.registryChangedAt(clash.field).getTime()
          if (gapMs > times.clockSkewMs) expect(clash.resolution, label).toBe('lww-fhir')
          else if (gapMs < -times.clockSkewMs) expect(clash.resolution, label).toBe('lww-registry')
          else expect(clash.resolution, label).toBeNull()
        }
        expect(result.reverts).toEqual([])
        expectMergedParts(input, result)
      }),
    )
  })
})

describe('mergeFields with lww', () => {
  const views = {
    base: { gender: 'female' },
    registry: { gender: 'other' },
    fhir: { gender: 'unknown' },
  }

  function mergeGender(times: MergeTimes): MergeResult {
    return mergeFields({ ...views, shapes: PATIENT_FIELD_SHAPES, rules: { gender: 'lww' }, times })
  }

  it.each([
    { gapMs: 2_001, resolution: 'lww-fhir', gender: 'unknown' },
    { gapMs: 2_000, resolution: null, gender: 'other' },
    { gapMs: 0, resolution: null, gender: 'other' },
    { gapMs: -2_000, resolution: null, gender: 'other' },
    { gapMs: -2_001, resolution: 'lww-registry', gender: 'other' },
  ])('resolves a FHIR change $gapMs ms later as $resolution', ({ gapMs, resolution, gender }) => {
    const result = mergeGender({
      registryChangedAt: () => new Date(T0_MS),
      fhirChangedAt: new Date(T0_MS + gapMs),
      clockSkewMs: 2_000,
    })

    expect(result.clashes).toEqual([
      {
        field: 'gender',
        itemKey: null,
        base: 'female',
        registry: 'other',
        fhir: 'unknown',
        rule: 'lww',
        resolution,
      },
    ])
    expect(result.merged).toEqual({ gender })
  })

  it('takes the registry when FHIR has no change time', () => {
    const result = mergeGender({
      registryChangedAt: () => new Date(T0_MS),
      fhirChangedAt: null,
      clockSkewMs: 2_000,
    })

    expect(result.clashes.map((clash) => clash.resolution)).toEqual(['lww-registry'])
    expect(result.merged).toEqual({ gender: 'other' })
  })
})

/** Registry changed at T0, FHIR a minute later: lww clashes go to FHIR. */
const FHIR_LATER: MergeTimes = {
  registryChangedAt: () => new Date(T0_MS),
  fhirChangedAt: new Date(T0_MS + 60_000),
  clockSkewMs: 2_000,
}

function mergePatient(views: Triple<MergeView>, rules: Record<string, MergeRule>): MergeResult {
  return mergeFields({ ...views, shapes: PATIENT_FIELD_SHAPES, rules, times: FHIR_LATER })
}

function mergeCondition(views: Triple<MergeView>, rules: Record<string, MergeRule>): MergeResult {
  return mergeFields({ ...views, shapes: CONDITION_FIELD_SHAPES, rules, times: FHIR_LATER })
}

const mrn = (value: string, extra: Partial<Identifier> = {}): Identifier => ({
  system: MRN_SYSTEM,
  value,
  ...extra,
})
const OFFICIAL: HumanName = { use: 'official', family: 'Okafor', given: ['Ada'] }
const MAIDEN: HumanName = { use: 'maiden', family: 'Lindqvist' }
const SNOMED_EPILEPSY: Coding = { system: SNOMED_CT, code: '84757009', display: 'Epilepsy' }
const ICD_EPILEPSY: Coding = { system: ICD_10_CM, code: 'G40.909' }

describe('mergeFields list merge', () => {
  it('matches identifiers by system and value', () => {
    const result = mergePatient(
      {
        base: { identifiers: [mrn('1001'), mrn('1002')] },
        registry: { identifiers: [mrn('1001', { use: 'old' }), mrn('1002'), mrn('1003')] },
        fhir: { identifiers: [mrn('1001'), mrn('1004')] },
      },
      { identifiers: 'fhir' },
    )

    expect(result.merged.identifiers).toEqual([
      mrn('1001', { use: 'old' }),
      mrn('1003'),
      mrn('1004'),
    ])
    expect(result.clashes).toEqual([])
  })

  it('clashes on an identifier both sides changed', () => {
    const result = mergePatient(
      {
        base: { identifiers: [mrn('1001')] },
        registry: { identifiers: [mrn('1001', { use: 'old' })] },
        fhir: { identifiers: [mrn('1001', { use: 'usual' })] },
      },
      { identifiers: 'fhir' },
    )

    expect(result.merged.identifiers).toEqual([mrn('1001', { use: 'usual' })])
    expect(result.clashes).toMatchObject([
      { field: 'identifiers', itemKey: `${MRN_SYSTEM}|1001`, resolution: 'fhir-rule' },
    ])
  })

  it('matches names by use', () => {
    const result = mergePatient(
      {
        base: { names: [OFFICIAL] },
        registry: { names: [{ ...OFFICIAL, given: ['Ada', 'Mae'] }] },
        fhir: { names: [OFFICIAL, MAIDEN] },
      },
      { names: 'lww' },
    )

    expect(result.merged.names).toEqual([{ ...OFFICIAL, given: ['Ada', 'Mae'] }, MAIDEN])
    expect(result.clashes).toEqual([])
  })

  it('clashes on a name both sides changed', () => {
    const result = mergePatient(
      {
        base: { names: [OFFICIAL] },
        registry: { names: [{ ...OFFICIAL, family: 'Okafor-Lindqvist' }] },
        fhir: { names: [{ ...OFFICIAL, family: 'Okafur' }] },
      },
      { names: 'manual' },
    )

    expect(result.merged.names).toEqual([{ ...OFFICIAL, family: 'Okafor-Lindqvist' }])
    expect(result.clashes).toMatchObject([
      { field: 'names', itemKey: 'official', resolution: null },
    ])
  })

  it('matches telecoms by system and value', () => {
    const phone: ContactPoint = { system: 'phone', value: '+44 20 7946 0958', use: 'home' }
    const email: ContactPoint = { system: 'email', value: 'ada@example.org' }
    const fax: ContactPoint = { system: 'fax', value: '+44 20 7946 0958' }

    const result = mergePatient(
      {
        base: { telecom: [phone, email] },
        registry: { telecom: [{ ...phone, use: 'mobile' }, email] },
        fhir: { telecom: [phone, fax] },
      },
      { telecom: 'lww' },
    )

    expect(result.merged.telecom).toEqual([{ ...phone, use: 'mobile' }, fax])
    expect(result.clashes).toEqual([])
  })

  it('matches addresses by use', () => {
    const home: Address = { use: 'home', city: 'London' }
    const work: Address = { use: 'work', city: 'Leeds' }

    const result = mergePatient(
      {
        base: { addresses: [home, work] },
        registry: { addresses: [{ ...home, city: 'York' }, work] },
        fhir: { addresses: [home, { ...work, city: 'Hull' }] },
      },
      { addresses: 'lww' },
    )

    expect(result.merged.addresses).toEqual([
      { ...home, city: 'York' },
      { ...work, city: 'Hull' },
    ])
    expect(result.clashes).toEqual([])
  })

  it('keeps elements added with different keys on each side', () => {
    const result = mergePatient(
      {
        base: { names: [], identifiers: [] },
        registry: { names: [OFFICIAL], identifiers: [mrn('1001')] },
        fhir: { names: [MAIDEN], identifiers: [mrn('1002')] },
      },
      { names: 'manual', identifiers: 'manual' },
    )

    expect(result.merged).toEqual({
      names: [OFFICIAL, MAIDEN],
      identifiers: [mrn('1001'), mrn('1002')],
    })
    expect(result.clashes).toEqual([])
  })

  it('matches codings by system', () => {
    const result = mergeCondition(
      {
        base: { code: { coding: [SNOMED_EPILEPSY], text: 'Epilepsy' } },
        registry: {
          code: { coding: [{ ...SNOMED_EPILEPSY, code: '352818000' }], text: 'Epilepsy' },
        },
        fhir: { code: { coding: [SNOMED_EPILEPSY, ICD_EPILEPSY], text: 'Epilepsy' } },
      },
      { code: 'manual' },
    )

    expect(result.merged.code).toEqual({
      coding: [{ ...SNOMED_EPILEPSY, code: '352818000' }, ICD_EPILEPSY],
      text: 'Epilepsy',
    })
    expect(result.clashes).toEqual([])
  })

  it('clashes on a coding both sides changed', () => {
    const result = mergeCondition(
      {
        base: { code: { coding: [SNOMED_EPILEPSY] } },
        registry: { code: { coding: [{ ...SNOMED_EPILEPSY, code: '352818000' }] } },
        fhir: { code: { coding: [{ ...SNOMED_EPILEPSY, code: '230456007' }] } },
      },
      { code: 'manual' },
    )

    expect(result.merged.code).toEqual({ coding: [{ ...SNOMED_EPILEPSY, code: '352818000' }] })
    expect(result.clashes).toMatchObject([{ field: 'code', itemKey: SNOMED_CT, resolution: null }])
  })

  it('merges the concept text apart from the codings', () => {
    const result = mergeCondition(
      {
        base: { code: { coding: [SNOMED_EPILEPSY], text: 'Epilepsy' } },
        registry: { code: { coding: [ICD_EPILEPSY], text: 'Epilepsy' } },
        fhir: { code: { coding: [SNOMED_EPILEPSY], text: 'Focal epilepsy' } },
      },
      { code: 'manual' },
    )

    expect(result.merged.code).toEqual({ coding: [ICD_EPILEPSY], text: 'Focal epilepsy' })
    expect(result.clashes).toEqual([])
  })

  it('clashes on a concept text both sides changed', () => {
    const result = mergeCondition(
      {
        base: { code: { text: 'Epilepsy' } },
        registry: { code: { text: 'Focal epilepsy' } },
        fhir: { code: { text: 'Generalised epilepsy' } },
      },
      { code: 'fhir' },
    )

    expect(result.merged.code).toEqual({ text: 'Generalised epilepsy' })
    expect(result.clashes).toMatchObject([
      {
        field: 'code',
        itemKey: 'text',
        base: { text: 'Epilepsy' },
        registry: { text: 'Focal epilepsy' },
        fhir: { text: 'Generalised epilepsy' },
        resolution: 'fhir-rule',
      },
    ])
  })
})

describe('mergeFields with repeated natural keys', () => {
  const first: HumanName = { family: 'Okafor' }
  const second: HumanName = { family: 'Lindqvist' }

  it('keeps two names without use', () => {
    const result = mergePatient(
      {
        base: { names: [first, second] },
        registry: { names: [first, second] },
        fhir: { names: [first, second, OFFICIAL] },
      },
      { names: 'lww' },
    )

    expect(result.merged.names).toEqual([first, second, OFFICIAL])
  })

  it('takes a FHIR change to the second name without use', () => {
    const result = mergePatient(
      {
        base: { names: [first, second] },
        registry: { names: [first, second] },
        fhir: { names: [first, { ...second, given: ['Mae'] }] },
      },
      { names: 'lww' },
    )

    expect(result.merged.names).toEqual([first, { ...second, given: ['Mae'] }])
    expect(result.clashes).toEqual([])
  })

  it('keeps removals of different names without use', () => {
    const result = mergePatient(
      {
        base: { names: [first, second] },
        registry: { names: [second] },
        fhir: { names: [first] },
      },
      { names: 'lww' },
    )

    expect(result.merged.names).toEqual([])
  })
})

describe('mergeFields with disjoint list edits', () => {
  interface ListEdit {
    field: 'names' | 'addresses'
    base: Record<string, unknown>[]
    owners: ('none' | Side)[]
    actions: ('drop' | 'edit')[]
    rule: MergeRule
  }

  const DISTINCT_USES = {
    names: ['official', 'usual', 'maiden', 'old'],
    addresses: ['home', 'work', 'temp', 'old'],
  } as const
  const REPEATED_USES = { names: [undefined, 'official'], addresses: [undefined, 'home'] } as const

  /**
   * Generates a list whose elements each side edits or removes without touching the other side's.
   * With `repeatedKeys`, several elements may share a `use`, and so a natural key.
   */
  function listEditArb(repeatedKeys: boolean): fc.Arbitrary<ListEdit> {
    return fc
      .record({
        field: fc.constantFrom('names', 'addresses'),
        size: fc.integer({ min: 1, max: 4 }),
        rule: fc.constantFrom<MergeRule>('lww', 'fhir', 'manual'),
      })
      .chain(({ field, size, rule }) => {
        const uses = repeatedKeys
          ? fc.array(fc.constantFrom(...REPEATED_USES[field]), {
              minLength: size,
              maxLength: size,
            })
          : fc.constant(DISTINCT_USES[field].slice(0, size))
        return fc.record({
          field: fc.constant(field),
          rule: fc.constant(rule),
          base: uses.map((elementUses) =>
            elementUses.map((use, index) => elementOf(field, use, index)),
          ),
          owners: fc.array(fc.constantFrom('none', 'registry', 'fhir'), {
            minLength: size,
            maxLength: size,
          }),
          actions: fc.array(fc.constantFrom('drop', 'edit'), { minLength: size, maxLength: size }),
        })
      })
  }

  function elementOf(
    field: ListEdit['field'],
    use: string | undefined,
    index: number,
  ): Record<string, unknown> {
    const element = field === 'names' ? { family: `Family ${index}` } : { city: `City ${index}` }
    return use === undefined ? element : { use, ...element }
  }

  /** Applies the edits of `side` to the base list, or those of both sides when `side` is null. */
  function edited(edit: ListEdit, side: Side | null): Record<string, unknown>[] {
    return edit.base.flatMap((element, index) => {
      const owner = edit.owners[index]
      if (owner === 'none' || (side !== null && owner !== side)) return [element]
      if (edit.actions[index] === 'drop') return []
      return [{ ...element, period: { start: owner === 'registry' ? '2024-01-01' : '2024-02-01' } }]
    })
  }

  function checkDisjointEdits(edit: ListEdit): void {
    const shape = PATIENT_FIELD_SHAPES[edit.field]

    const result = mergePatient(
      {
        base: { [edit.field]: edit.base },
        registry: { [edit.field]: edited(edit, 'registry') },
        fhir: { [edit.field]: edited(edit, 'fhir') },
      },
      { [edit.field]: edit.rule },
    )

    expect(result.clashes).toEqual([])
    expect(piecesOf(shape, result.merged[edit.field])).toEqual(piecesOf(shape, edited(edit, null)))
  }

  it('applies both sides when keys are distinct', () => {
    fc.assert(fc.property(listEditArb(false), checkDisjointEdits))
  })

  it('applies both sides when keys repeat', () => {
    fc.assert(fc.property(listEditArb(true), checkDisjointEdits), { numRuns: 500 })
  })
})

describe('partValue', () => {
  const names = [OFFICIAL, { family: 'Okafor' }, { family: 'Lindqvist' }]

  it('returns the whole value of a value field', () => {
    expect(partValue({ kind: 'value' }, '1970-01-01', null)).toBe('1970-01-01')
    expect(partValue({ kind: 'value' }, undefined, null)).toBeNull()
  })

  it('finds a list element by natural key', () => {
    expect(partValue(PATIENT_FIELD_SHAPES.names, names, 'official')).toEqual(OFFICIAL)
    expect(
      partValue(PATIENT_FIELD_SHAPES.names, names, `(no use) ~ ${canonicalJson(names[2])}`),
    ).toEqual(names[2])
    expect(partValue(PATIENT_FIELD_SHAPES.names, names, '(no use)')).toBeUndefined()
    expect(partValue(PATIENT_FIELD_SHAPES.names, names, 'maiden')).toBeUndefined()
  })

  it('finds a coding by system and the rest by text', () => {
    const concept = { coding: [SNOMED_EPILEPSY, { code: 'local-1' }], text: 'Epilepsy' }

    expect(partValue({ kind: 'concept' }, concept, SNOMED_CT)).toEqual(SNOMED_EPILEPSY)
    expect(partValue({ kind: 'concept' }, concept, '(no system)')).toEqual({ code: 'local-1' })
    expect(partValue({ kind: 'concept' }, concept, 'text')).toEqual({ text: 'Epilepsy' })
    expect(partValue({ kind: 'concept' }, concept, ICD_10_CM)).toBeUndefined()
  })
})

describe('withPartValue', () => {
  const shape = PATIENT_FIELD_SHAPES.names

  it('replaces a list element in place', () => {
    const renamed = { ...OFFICIAL, family: 'Okafur' }

    expect(withPartValue(shape, [OFFICIAL, MAIDEN], 'official', renamed)).toEqual([renamed, MAIDEN])
  })

  it('appends an element the list lacks', () => {
    expect(withPartValue(shape, [OFFICIAL], 'maiden', MAIDEN)).toEqual([OFFICIAL, MAIDEN])
  })

  it('removes an element when the part is undefined', () => {
    expect(withPartValue(shape, [OFFICIAL, MAIDEN], 'official', undefined)).toEqual([MAIDEN])
  })

  it('replaces a value field', () => {
    expect(withPartValue({ kind: 'value' }, 'male', null, 'female')).toBe('female')
    expect(withPartValue({ kind: 'value' }, 'male', null, undefined)).toBeNull()
  })

  it('replaces the text and codings of a concept', () => {
    const concept = { coding: [SNOMED_EPILEPSY], text: 'Epilepsy' }

    expect(withPartValue({ kind: 'concept' }, concept, 'text', { text: 'Focal' })).toEqual({
      coding: [SNOMED_EPILEPSY],
      text: 'Focal',
    })
    expect(withPartValue({ kind: 'concept' }, concept, ICD_10_CM, ICD_EPILEPSY)).toEqual({
      coding: [SNOMED_EPILEPSY, ICD_EPILEPSY],
      text: 'Epilepsy',
    })
    expect(withPartValue({ kind: 'concept' }, concept, SNOMED_CT, undefined)).toEqual({
      text: 'Epilepsy',
    })
  })
})

describe('withHeldBackParts', () => {
  it('sets held-back parts to FHIR values', () => {
    const registry = {
      names: [{ ...OFFICIAL, family: 'Okafor-Lindqvist' }, MAIDEN],
      gender: 'other',
      birthDate: '1970-01-01',
    }
    const fhir = { names: [{ ...OFFICIAL, family: 'Okafur' }], gender: 'unknown' }

    const push = withHeldBackParts(PATIENT_FIELD_SHAPES, registry, fhir, [
      { field: 'names', itemKey: 'official' },
      { field: 'gender', itemKey: null },
    ])

    expect(push).toEqual({
      names: [{ ...OFFICIAL, family: 'Okafur' }, MAIDEN],
      gender: 'unknown',
      birthDate: '1970-01-01',
    })
    expect(registry.gender).toBe('other')
  })

  it('removes a held-back part FHIR lacks', () => {
    const push = withHeldBackParts(
      PATIENT_FIELD_SHAPES,
      { names: [OFFICIAL, MAIDEN] },
      { names: [] },
      [{ field: 'names', itemKey: 'maiden' }],
    )

    expect(push).toEqual({ names: [OFFICIAL] })
  })

  it('skips fields the registry view lacks', () => {
    const push = withHeldBackParts(
      PATIENT_FIELD_SHAPES,
      { gender: 'other' },
      { gender: 'male', birthDate: '1970-01-01' },
      [{ field: 'birthDate', itemKey: null }],
    )

    expect(push).toEqual({ gender: 'other' })
  })

  it('holds back the unsettled clashes of a merge', () => {
    const views = {
      base: { names: [OFFICIAL], gender: 'female' },
      registry: { names: [{ ...OFFICIAL, family: 'Okafor-Lindqvist' }], gender: 'other' },
      fhir: { names: [{ ...OFFICIAL, family: 'Okafur' }], gender: 'male' },
    }
    const result = mergePatient(views, { names: 'manual', gender: 'manual' })

    const push = withHeldBackParts(PATIENT_FIELD_SHAPES, result.merged, views.fhir, result.clashes)

    expect(push).toEqual(views.fhir)
  })

  it('keeps an edit of a repeated key that the other side removed', () => {
    const first: HumanName = { family: 'Okafor' }
    const second: HumanName = { family: 'Lindqvist' }
    const edited: HumanName = { ...second, given: ['Mae'] }
    const views = {
      base: { names: [first, second] },
      registry: { names: [first, edited] },
      fhir: { names: [] },
    }
    const result = mergePatient(views, { names: 'manual' })

    expect(result.merged).toEqual({ names: [edited] })
    expect(result.clashes).toEqual([])
  })
})
