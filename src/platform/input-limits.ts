// Length limits of the strings and lists that requests carry. FHIR R4 caps a string only at
// 1 MB, so these are set far above what clinical data needs. They stop a client from filling
// rows, conflicts and FHIR resources with megabytes of text, not from recording a long name or
// note. A FHIR id has at most 64 characters and a SNOMED CT id at most 18 digits, so codes,
// identifier values and element ids fit easily in 256. A URL fits in 2,048, a name part,
// address line or display in 1,000, and narrative text, such as a concept's text, in 10,000.

/** Codes, versions, identifier values, postal codes and element ids. */
export const MAX_CODE_LENGTH = 256

/** Code system and extension URLs, references and telecom values, which may be URLs. */
export const MAX_URI_LENGTH = 2048

/** Name parts, address lines, cities, displays and other short text. */
export const MAX_SHORT_TEXT_LENGTH = 1000

/** Free text: a concept's, name's or address's text, an onset given as text. */
export const MAX_TEXT_LENGTH = 10_000

/** Elements of one list: names, identifiers, telecoms, addresses, codings, extensions. */
export const MAX_LIST_ITEMS = 100

/** Parts of one name (given, prefix, suffix) or lines of one address. */
export const MAX_PARTS = 20
