// Hostile manifest texts from issue 12, shared by the parser and the directory source tests.

/** The 393-byte billion-laughs document of issue 12: 9 levels of 9 aliases each. */
export function aliasBomb(kind = "Service"): string {
  let text = `kind: ${kind}\nmetadata: {name: bomb}\na: &a ["x","x","x","x","x","x","x","x","x"]\n`;
  const names = "abcdefghi";
  for (let i = 1; i < names.length; i++) {
    const p = `*${names[i - 1]}`;
    text += `${names[i]}: &${names[i]} [${Array(9).fill(p).join(",")}]\n`;
  }
  return text;
}

/** A Service inside `depth` Lists, as flow YAML or JSON (~520 KB of JSON at 20,000). */
export function nestedLists(depth: number, json: boolean): string {
  const open = json ? '{"kind":"List","items":[' : "{kind: List, items: [";
  const inner = json ? '{"kind":"Service","metadata":{"name":"x"}}' : "{kind: Service, metadata: {name: x}}";
  return `${open.repeat(depth)}${inner}${"]}".repeat(depth)}\n`;
}
