/** A per-path failure that is reported (as a problem of that path), not thrown further. */
export class PathProblem extends Error {}
