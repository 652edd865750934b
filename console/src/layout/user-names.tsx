import { useQueries, type UseQueryResult } from '@tanstack/react-query'
import { useApi } from '../auth/session.tsx'

/** Maximum number of ids in one `GET /users/names` request, the API's limit. */
const MAX_IDS_PER_REQUEST = 100

// Local users have UUIDs as ids. Other actors, such as `issuer#subject` of an external token or
// the `fhir-merge` system actor, name no local user, and the API would reject them with 400.
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

interface UserNames {
  items: { id: string; username: string }[]
}

// Defined outside the hook so that useQueries keeps the combined map while no query changes.
function toNameMap(results: UseQueryResult<UserNames>[]): ReadonlyMap<string, string> {
  const entries = results.flatMap((result) => result.data?.items ?? [])
  return new Map(entries.map((user) => [user.id, user.username]))
}

/**
 * Looks up the usernames of the actors that are local user ids, in one request per 100 distinct
 * ids. Returns a map from user id to username. An id is missing from it while its request loads,
 * after the request failed and when it names no local user, so callers show the id instead.
 */
export function useUserNames(actors: readonly string[]): ReadonlyMap<string, string> {
  const api = useApi()
  const ids = [...new Set(actors.filter((actor) => UUID_PATTERN.test(actor)))].sort()
  const batches: string[][] = []
  for (let start = 0; start < ids.length; start += MAX_IDS_PER_REQUEST) {
    batches.push(ids.slice(start, start + MAX_IDS_PER_REQUEST))
  }

  return useQueries({
    queries: batches.map((batch) => ({
      queryKey: ['users', 'names', batch],
      queryFn: () => {
        const query = new URLSearchParams(batch.map((id): [string, string] => ['id', id]))
        return api.request<UserNames>(`/users/names?${query.toString()}`)
      },
      // The API has no way to rename a user, so a username once read stays correct.
      staleTime: Infinity,
    })),
    combine: toNameMap,
  })
}

/**
 * An audit actor or a resolver: the username of a local user, with the user id as its title, or
 * the actor as recorded when `names` has no username for it.
 */
export function ActorName({ actor, names }: { actor: string; names: ReadonlyMap<string, string> }) {
  const username = names.get(actor)
  if (username === undefined) return <code>{actor}</code>
  return <span title={`User id ${actor}`}>{username}</span>
}
