import { useEffect, useRef, type ReactNode } from 'react'

// False until the first page of this page load has shown its heading.
let pageShown = false

/**
 * The page's one h1. It takes focus when a client-side navigation opens the page, so a screen
 * reader announces the new page as it would after a full page load. The first page of a load
 * leaves the focus where the browser puts it, so the skip link stays the first Tab stop.
 */
export function PageHeading({ children }: { children: ReactNode }) {
  const ref = useRef<HTMLHeadingElement>(null)
  useEffect(() => {
    if (pageShown) ref.current?.focus()
    pageShown = true
  }, [])
  return (
    <h1 ref={ref} tabIndex={-1}>
      {children}
    </h1>
  )
}
