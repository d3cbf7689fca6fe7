export interface Greeting {
  who: string;
  path: string;
}

export function describe(g: Greeting): string {
  return `hello from ${g.who} at ${g.path}`;
}

// Unused: tree shaking leaves it out of the bundle.
export function unused(): string {
  return "this text is not in the bundle";
}
