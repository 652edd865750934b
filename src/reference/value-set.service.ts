import type { NeurologyValueSet } from '../fhir/neurology-value-set.ts'
import { NotFoundError, ValidationError } from '../platform/errors.ts'
import { searchCodes, type CodeSearch } from './code-search.ts'
import { FIXED_VALUE_SETS, type ValueSet, type ValueSetCode } from './value-sets.ts'

/** Id of the neurological value set in the API's paths. */
export const NEUROLOGICAL_VALUE_SET_ID = 'neurological-conditions'

export interface ValueSetServiceDeps {
  /** The neurological value set loaded at start-up from NEUROLOGY_VALUE_SET_FILE. */
  neurology: NeurologyValueSet
}

/** A value set without its codes, as `GET /value-sets` lists it. */
export interface ValueSetSummary {
  id: string
  title: string
  description: string
  /** Code systems of the set's codes, in the order they first occur. */
  systems: string[]
  codeCount: number
}

/** Builds the neurological value set as the pickers show it: only the codes the file lists. */
export function neurologicalValueSetOf(neurology: NeurologyValueSet): ValueSet {
  return {
    id: NEUROLOGICAL_VALUE_SET_ID,
    title: 'Neurological conditions',
    description:
      "Codes that make a condition neurological, so that it enrols its patient: the SNOMED CT concepts and ICD-10-CM chapter G codes of the value set file. ICD-10-CM codes of other chapters that only match one of the file's prefixes, such as I63.9 (cerebral infarction), also enrol a patient but are not listed.",
    codes: neurology.listedCodes(),
  }
}

/** Reads the registry's value sets for the clinical app's pickers. */
export class ValueSetService {
  readonly #valueSets: ReadonlyMap<string, ValueSet>

  constructor(deps: ValueSetServiceDeps) {
    const all = [neurologicalValueSetOf(deps.neurology), ...FIXED_VALUE_SETS]
    this.#valueSets = new Map(all.map((valueSet) => [valueSet.id, valueSet]))
  }

  /** Lists every value set with its code systems and number of codes. */
  list(): ValueSetSummary[] {
    return [...this.#valueSets.values()].map((valueSet) => ({
      id: valueSet.id,
      title: valueSet.title,
      description: valueSet.description,
      systems: [...new Set(valueSet.codes.map((code) => code.system))],
      codeCount: valueSet.codes.length,
    }))
  }

  /**
   * Returns one page of a value set's codes that match `search`. Throws NotFoundError for an
   * unknown value set and ValidationError for a system the set has no codes of.
   */
  listCodes(id: string, search: CodeSearch): { items: ValueSetCode[]; nextCursor: string | null } {
    const valueSet = this.#valueSets.get(id)
    if (!valueSet) throw new NotFoundError('Value set', id)

    if (
      search.system !== undefined &&
      !valueSet.codes.some((code) => code.system === search.system)
    ) {
      const systems = [...new Set(valueSet.codes.map((code) => code.system))]
      throw new ValidationError(`Value set ${id} has no codes of ${search.system}`, [
        { path: 'system', message: `Use one of ${systems.join(', ')}, or leave system out` },
      ])
    }
    return searchCodes(valueSet.codes, search)
  }
}
