/** Filters of the patient list, as the URL query stores them and the API takes them. */
export interface PatientFilters {
  name?: string
  identifier?: string
  birthDate?: string
}

const FILTER_NAMES = ['name', 'identifier', 'birthDate'] as const

/** The birth date prefixes the API takes: a year, a year and month, or a full date. */
const BIRTH_DATE_PREFIX = /^\d{4}(-\d{2}(-\d{2})?)?$/

/** Reads the filters out of the URL query, trimmed; empty values are left out. */
export function filtersFromSearch(search: URLSearchParams): PatientFilters {
  const filters: PatientFilters = {}
  for (const name of FILTER_NAMES) {
    const value = search.get(name)?.trim()
    if (value) filters[name] = value
  }
  return filters
}

/** Writes the filters into a URL query in a fixed order, so one set of filters has one URL. */
export function searchOfFilters(filters: PatientFilters): URLSearchParams {
  const search = new URLSearchParams()
  for (const name of FILTER_NAMES) {
    const value = filters[name]
    if (value !== undefined && value !== '') search.set(name, value)
  }
  return search
}

export function isFiltered(filters: PatientFilters): boolean {
  return FILTER_NAMES.some((name) => filters[name] !== undefined)
}

/** Checks a birth date prefix; returns a message when the API would reject it. */
export function birthDatePrefixProblem(value: string): string | undefined {
  if (value === '' || BIRTH_DATE_PREFIX.test(value)) return undefined
  return 'Enter a year (1980), a year and month (1980-05) or a full date (1980-05-17)'
}
