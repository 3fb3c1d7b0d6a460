// The console talks to /graphql only, with the token kept in sessionStorage (this tab only, shared with
// GraphiQL on the same origin), never in localStorage.
const KEY = "govshare.token";

export function savedToken() {
  return window.sessionStorage.getItem(KEY);
}

// Accepts the bare token, "Bearer <token>" or the {"Authorization": "Bearer <token>"} line ./dev demo prints.
export function saveToken(pasted) {
  const jwt = pasted.match(/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/);
  const token = jwt ? jwt[0] : pasted.trim();
  if (token) window.sessionStorage.setItem(KEY, token);
  return token;
}

export function forgetToken() {
  window.sessionStorage.removeItem(KEY);
}

export class SignInNeeded extends Error {}

// One GraphQL request: resolves to {data, errors} (errors as GraphQL gives them, possibly with data).
export async function gql(query, variables) {
  const response = await fetch("/graphql", {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Accept: "application/graphql-response+json, application/json",
      Authorization: "Bearer " + savedToken(),
    },
    body: JSON.stringify({ query, variables: variables || {} }),
  });
  let body;
  try {
    body = await response.json();
  } catch (exc) {
    body = { errors: [{ message: `HTTP ${response.status}`, extensions: { code: "HTTP_" + response.status } }] };
  }
  if (response.status === 401) throw new SignInNeeded((body.errors && body.errors[0].message) || "401");
  return { data: body.data || null, errors: body.errors || [] };
}
