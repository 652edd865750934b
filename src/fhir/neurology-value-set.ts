import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Coding } from '@medplum/fhirtypes'
import { z } from 'zod'
import { ConfigError } from '../platform/config.ts'
import { ICD_10_CM, SNOMED_CT } from './constants.ts'

export const DEFAULT_VALUE_SET_PATH = join(
  import.meta.dirname,
  '..',
  'reference',
  'neurology-value-set.json',
)

const valueSetFileSchema = z.object({
  snomedCt: z.object({ concepts: z.record(z.string().regex(/^\d{6,18}$/), z.string()) }),
  icd10cm: z.object({
    prefixes: z.array(z.string().regex(/^[A-Z][0-9A-Z.]*$/)),
    // Chapter G codes written with their dot, each with its title from the tabular list.
    codes: z
      .record(z.string().regex(/^G\d\d(\.[0-9A-Z]{1,4})?$/), z.string().trim().min(1))
      .optional(),
  }),
})

/** First character of the ICD-10-CM codes that the value set file may list one by one. */
const LISTED_ICD_10_CM_CHAPTER = 'G'

/** A code of the value set with its display, as the clinical app's pickers show it. */
export interface ListedCode {
  system: string
  code: string
  display: string
}

/** Codes that the value set lists one by one, each with its display. */
export interface NeurologyCodeLists {
  /** Display of each SNOMED CT concept; a concept without one shows its id. */
  snomedCtDisplays?: Readonly<Record<string, string>>
  /**
   * ICD-10-CM chapter G codes with their titles. When given, an API write may carry a chapter G
   * code only when it is listed. When left out, chapter G codes are checked for form only.
   */
  icd10CmChapterG?: Readonly<Record<string, string>>
}

/** Configuration variable that names the value set file. */
export const VALUE_SET_FILE_VARIABLE = 'NEUROLOGY_VALUE_SET_FILE'

/** Reason a value set file could not be loaded. */
export type ValueSetFileProblem = 'FILE_UNREADABLE' | 'INVALID_JSON' | 'INVALID_SHAPE' | 'EMPTY'

/**
 * A value set file that cannot be loaded. It is a ConfigError, so start-up stops on it as on any
 * invalid variable, and its message names the variable, the file and the problem.
 */
export class ValueSetFileError extends ConfigError {
  override name = 'ValueSetFileError'
  readonly variable = VALUE_SET_FILE_VARIABLE
  readonly code: ValueSetFileProblem
  /** Absolute path of the file. */
  readonly path: string

  constructor(code: ValueSetFileProblem, path: string, detail: string, options?: ErrorOptions) {
    super(`Invalid configuration:\n  ${VALUE_SET_FILE_VARIABLE}: ${path} ${detail}`, options)
    this.code = code
    this.path = path
  }
}

/** The registry's neurological value set: decides which Conditions enrol a patient. */
export class NeurologyValueSet {
  readonly #snomedCodes: ReadonlySet<string>
  readonly #icdPrefixes: readonly string[]
  readonly #snomedDisplays: Readonly<Record<string, string>>
  readonly #icdChapterG: ReadonlyMap<string, string> | null

  constructor(
    snomedCodes: Iterable<string>,
    icdPrefixes: readonly string[],
    codeLists: NeurologyCodeLists = {},
  ) {
    this.#snomedCodes = new Set(snomedCodes)
    this.#icdPrefixes = icdPrefixes
    this.#snomedDisplays = codeLists.snomedCtDisplays ?? {}
    this.#icdChapterG = codeLists.icd10CmChapterG
      ? new Map(Object.entries(codeLists.icd10CmChapterG))
      : null
  }

  /**
   * Loads the value set from a JSON file shaped like `src/reference/neurology-value-set.json`,
   * the default. Throws a ValueSetFileError when the file cannot be read, is not JSON, has
   * another shape or lists no code at all, which would enrol no patient by Condition.
   */
  static fromFile(path: string = DEFAULT_VALUE_SET_PATH): NeurologyValueSet {
    const absolutePath = resolve(path)

    let text: string
    try {
      text = readFileSync(absolutePath, 'utf8')
    } catch (error) {
      throw new ValueSetFileError(
        'FILE_UNREADABLE',
        absolutePath,
        `${describeReadFailure(error)}. Point the variable at a readable JSON file, or unset it to use the bundled value set`,
        { cause: error },
      )
    }

    let content: unknown
    try {
      // Editors on Windows may start the file with a byte order mark, which JSON.parse rejects.
      content = JSON.parse(text.replace(/^\uFEFF/, ''))
    } catch (error) {
      throw new ValueSetFileError(
        'INVALID_JSON',
        absolutePath,
        `is not valid JSON (${error instanceof Error ? error.message : String(error)})`,
        { cause: error },
      )
    }

    const parsed = valueSetFileSchema.safeParse(content)
    if (!parsed.success) {
      const problems = parsed.error.issues.map(
        (issue) => `${issue.path.join('.') || '(top level)'}: ${issue.message}`,
      )
      throw new ValueSetFileError(
        'INVALID_SHAPE',
        absolutePath,
        `is not a value set file like src/reference/neurology-value-set.json: ${problems.join('; ')}`,
        { cause: parsed.error },
      )
    }

    const snomedCodes = Object.keys(parsed.data.snomedCt.concepts)
    const icdPrefixes = parsed.data.icd10cm.prefixes
    const icdCodes = parsed.data.icd10cm.codes ?? {}
    if (
      snomedCodes.length === 0 &&
      icdPrefixes.length === 0 &&
      Object.keys(icdCodes).length === 0
    ) {
      throw new ValueSetFileError(
        'EMPTY',
        absolutePath,
        'lists no SNOMED CT concept and no ICD-10-CM prefix or code, so no Condition would enrol a patient',
      )
    }
    return new NeurologyValueSet(snomedCodes, icdPrefixes, {
      snomedCtDisplays: parsed.data.snomedCt.concepts,
      icd10CmChapterG: parsed.data.icd10cm.codes,
    })
  }

  contains(coding: Pick<Coding, 'system' | 'code'>): boolean {
    const code = coding.code?.trim()
    if (!code) return false
    if (coding.system === SNOMED_CT) return this.#snomedCodes.has(code)
    if (coding.system === ICD_10_CM) {
      const upper = code.toUpperCase()
      return (
        this.#icdPrefixes.some((prefix) => upper.startsWith(prefix)) ||
        (this.#icdChapterG?.has(upper) ?? false)
      )
    }
    return false
  }

  /** True when any of the codings is in the value set. */
  containsAny(codings: readonly Pick<Coding, 'system' | 'code'>[] | undefined): boolean {
    return (codings ?? []).some((coding) => this.contains(coding))
  }

  /**
   * True for an ICD-10-CM chapter G code, written as in FHIR (`G40.909`), that the file's code
   * list lacks. Always false when the file lists no ICD-10-CM codes, and for codes of other
   * chapters, which the registry has no list of.
   */
  isUnlistedChapterGCode(code: string): boolean {
    // TODO: the bundled chapter G list is a hand-written subset, so an API write of a valid code
    // that it lacks is rejected. Loading the CMS release's code file would close the gap.
    if (this.#icdChapterG === null || !code.startsWith(LISTED_ICD_10_CM_CHAPTER)) return false
    return !this.#icdChapterG.has(code)
  }

  /**
   * Lists the SNOMED CT concepts by display, then the ICD-10-CM chapter G codes in the file's
   * order. The concepts cannot keep the file's order, because JSON.parse puts keys that look
   * like array indexes, such as most SNOMED CT ids, first and in numeric order.
   */
  listedCodes(): ListedCode[] {
    const snomed = [...this.#snomedCodes]
      .map((code) => ({ system: SNOMED_CT, code, display: this.#snomedDisplays[code] ?? code }))
      .sort((a, b) => a.display.localeCompare(b.display, 'en'))
    const icd = [...(this.#icdChapterG ?? [])].map(([code, display]) => ({
      system: ICD_10_CM,
      code,
      display,
    }))
    return [...snomed, ...icd]
  }
}

function describeReadFailure(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code
  if (code === 'ENOENT') return 'does not exist'
  if (code === 'EISDIR') return 'is a directory'
  if (code === 'EACCES' || code === 'EPERM') return 'cannot be read (permission denied)'
  return `cannot be read (${code ?? String(error)})`
}
