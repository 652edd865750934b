import type { ZodError } from 'zod'
import { ValidationError, type FieldError } from './errors.ts'

type ZodIssue = ZodError['issues'][number]

/**
 * Turns zod's issues into field errors whose paths start with `prefix`. An unknown member gets
 * an error on its own path, because zod reports all of them on the object that contains them.
 */
export function fieldErrorsOf(error: ZodError, prefix: readonly string[] = []): FieldError[] {
  return error.issues.flatMap((issue) => fieldErrorsOfIssue(issue, prefix))
}

function fieldErrorsOfIssue(issue: ZodIssue, prefix: readonly string[]): FieldError[] {
  const path = [...prefix, ...issue.path.map(String)]
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({
      path: [...path, key].join('.'),
      message: 'Unknown name; check its spelling against /openapi.json',
    }))
  }
  // A value that fits no member of a union, such as deceased[x], gets the issues of the member
  // it came closest to, which is the one with the fewest. zod itself reports "Invalid input".
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const closest = issue.errors.reduce((best, branch) =>
      branch.length < best.length ? branch : best,
    )
    if (closest.length > 0) return closest.flatMap((nested) => fieldErrorsOfIssue(nested, path))
  }
  return [{ path: path.join('.'), message: issue.message }]
}

/** Builds the 400 that a request failing its zod schema gets. */
export function validationErrorFrom(error: ZodError): ValidationError {
  return new ValidationError('The request is invalid', fieldErrorsOf(error))
}
