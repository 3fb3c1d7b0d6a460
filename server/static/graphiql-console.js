// GraphiQL for govshare, offline: every file comes from this server and every request goes to /graphql.
// The token lives in sessionStorage (this tab only, gone when it closes), never in localStorage; GraphiQL
// itself is given sessionStorage too, so neither tabs nor headers outlive the browser tab.
(function () {
  "use strict";
  var KEY = "govshare.token";
  var form = document.getElementById("token-form");
  var container = document.getElementById("graphiql");

  function showPrompt() {
    container.hidden = true;
    form.hidden = false;
    document.getElementById("token").focus();
  }

  function signOut() {
    window.sessionStorage.removeItem(KEY);
    window.location.reload();
  }

  function start(token, examples) {
    form.hidden = true;
    container.hidden = false;
    // GraphiQL fetches the schema when it mounts: it mounts only once a token is set.
    var fetcher = GraphiQL.createFetcher({
      url: "/graphql",
      headers: { Authorization: "Bearer " + token },
    });
    var signOutButton = React.createElement("button", {
      type: "button", className: "graphiql-un-styled govshare-sign-out", title: "Forget the token",
      onClick: signOut,
    }, "Sign out");
    var root = ReactDOM.createRoot(container);
    root.render(React.createElement(GraphiQL, {
      fetcher: fetcher,
      storage: window.sessionStorage,
      shouldPersistHeaders: false,
      defaultTabs: examples.slice(0, 1).map(function (e) { return { query: e.query }; }),
      defaultQuery: examples.length ? examples[0].query : undefined,
      plugins: [examplesPlugin(examples)],
      visiblePlugin: examples.length ? "README examples" : undefined,
    // The name and the button are separate elements with a space between them: GraphiQL's `all: unset` on
    // its buttons would otherwise leave them touching ("govshareSign out"), in the header and in its text.
    }, React.createElement(GraphiQL.Logo, null,
      React.createElement("span", { className: "govshare-brand" }, "govshare"), " ", signOutButton)));
  }

  // A sidebar panel listing the README's samples by title; a click opens one in a new tab.
  function examplesPlugin(examples) {
    var h = React.createElement;
    return {
      title: "README examples",
      icon: function () { return h("span", { "aria-hidden": true, className: "govshare-examples-icon" }, "Ex"); },
      content: function () {
        var editor = GraphiQL.React.useEditorContext({ nonNull: true });
        return h("div", { className: "govshare-examples" },
          h("div", { className: "graphiql-doc-explorer-title" }, "README examples"),
          h("ul", null, examples.map(function (example, index) {
            return h("li", { key: index }, h("button", {
              type: "button", className: "graphiql-un-styled govshare-example", "data-example": index,
              onClick: function () {
                editor.addTab();
                // The new tab starts from the default query; the sample replaces it once it is shown.
                window.setTimeout(function () {
                  if (editor.queryEditor) editor.queryEditor.setValue(example.query);
                }, 0);
              },
            }, example.title));
          })));
      },
    };
  }

  function load(token) {
    fetch("/static/graphiql-examples.json")
      .then(function (r) { return r.ok ? r.json() : []; })
      .catch(function () { return []; })
      .then(function (examples) {
        start(token, examples);
      });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    // Accept the bare token, "Bearer <token>" or a pasted {"Authorization": "Bearer <token>"}.
    var pasted = document.getElementById("token").value;
    var jwt = pasted.match(/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/);
    var token = jwt ? jwt[0] : pasted.trim();
    if (!token) return;
    window.sessionStorage.setItem(KEY, token);
    load(token);
  });

  var saved = window.sessionStorage.getItem(KEY);
  if (saved) load(saved); else showPrompt();
})();
