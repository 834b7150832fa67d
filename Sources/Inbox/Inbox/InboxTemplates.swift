import Mustache

/// The inbox's mustache templates, compiled once at startup.
///
/// They live in the binary rather than in resource files so a copied `usero` executable is the whole install.
/// Every value is written with `{{x}}`, which HTML-escapes `< > & " '`; `{{{x}}}` is never used, since every value
/// shown here (comments, emails, URLs, names) can come from an end user.
enum InboxTemplates {
    /// The compiled library; a template that fails to parse is a programming error caught by the tests.
    static func library() throws -> MustacheLibrary {
        InboxHTMLContentType.register()
        var library = MustacheLibrary()
        for (name, text) in sources {
            try library.register("{{% CONTENT_TYPE: \(InboxHTMLContentType.name)}}" + text, named: name)
        }
        return library
    }

    static let sources: [(String, String)] = [
        ("head", head), ("foot", foot), ("login", login), ("list", list), ("item", item), ("confirm", confirm),
        ("message", message), ("single", single),
    ]

    static let head = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="referrer" content="same-origin">
        <title>{{documentTitle}} · usero</title>
        <link rel="stylesheet" href="/inbox/assets/inbox.css">
        </head>
        <body>
        <a class="skip" href="#main">Skip to content</a>
        <header class="bar">
          <a class="brand" href="/inbox">usero <span>inbox</span></a>
          {{#signedIn}}
          <div class="who">
            <span class="project" title="{{clientID}}">{{clientName}}</span>
            <form method="post" action="/inbox/logout">
              <input type="hidden" name="csrf" value="{{csrfToken}}">
              <button type="submit" class="link">Sign out</button>
            </form>
          </div>
          {{/signedIn}}
        </header>
        <main id="main" tabindex="-1">

        """#

    static let foot = #"""
        </main>
        </body>
        </html>

        """#

    static let login = #"""
        {{> head}}
        <section class="card narrow">
          <h1>Sign in to your inbox</h1>
          <p class="hint">Use your project's admin key, the <code>adminKey</code> that
          <code>usero clients create</code> printed.</p>
          {{#errorText}}<p id="login-error" class="alert error" role="alert">{{errorText}}</p>{{/errorText}}
          {{^errorText}}{{#loginNotice}}<p class="alert notice" role="status">{{loginNotice}}</p>{{/loginNotice}}{{/errorText}}
          <form method="post" action="/inbox/login" class="stack">
            <input type="hidden" name="loginToken" value="{{loginToken}}">
            {{#next}}<input type="hidden" name="next" value="{{next}}">{{/next}}
            <label for="adminKey">Admin key</label>
            <input id="adminKey" name="adminKey" type="password" autocomplete="current-password" required
                   autofocus spellcheck="false" autocapitalize="off"{{#errorText}} aria-invalid="true"
                   aria-describedby="login-error"{{/errorText}}>
            <button type="submit" class="primary">Sign in</button>
          </form>
        </section>
        {{> foot}}
        """#

    static let list = #"""
        {{> head}}
        {{#noticeText}}<p class="alert notice" role="status">{{noticeText}}</p>{{/noticeText}}
        <section class="toolbar" aria-label="Filters and Slack">
          <form method="get" action="/inbox" class="filters">
            <div class="field">
              <label for="source">Source</label>
              <select id="source" name="source">
                {{#sourceOptions}}<option value="{{value}}"{{#isSelected}} selected{{/isSelected}}>{{label}}</option>{{/sourceOptions}}
              </select>
            </div>
            <div class="field">
              <label for="env">Environment</label>
              <select id="env" name="env">
                {{#environmentOptions}}<option value="{{value}}"{{#isSelected}} selected{{/isSelected}}>{{label}}</option>{{/environmentOptions}}
              </select>
            </div>
            {{#environmentsCut}}
            <div class="field">
              <label for="env-name">Or type an environment</label>
              <input id="env-name" name="envName" type="text" maxlength="256" aria-describedby="env-cut">
              <p id="env-cut" class="muted">The list shows the first 100 environments by name.</p>
            </div>
            {{/environmentsCut}}
            <div class="field">
              <label for="q">Search comments and emails</label>
              <input id="q" name="q" type="search" maxlength="200" value="{{searchText}}">
            </div>
            <button type="submit">Apply filters</button>
          </form>
          <div class="slack">
            {{#slackInstall}}
            {{^isRevoked}}<p class="status ok">Slack: connected to <strong>{{workspace}}</strong>
              <span class="muted">since <time datetime="{{installedAtISO}}">{{installedAtText}}</time></span></p>{{/isRevoked}}
            {{#isRevoked}}<p class="status warn" role="alert">Slack: access to <strong>{{workspace}}</strong> was revoked
              in Slack, so nothing is captured there. Press Reconnect Slack to restore it.</p>{{/isRevoked}}
            {{/slackInstall}}
            {{#slackConfigured}}
            {{^slackInstall}}<p class="status">Slack: not connected</p>{{/slackInstall}}
            <form method="post" action="/inbox/slack/connect">
              <input type="hidden" name="csrf" value="{{csrfToken}}">
              <button type="submit" class="slack-button">{{slackButtonLabel}}</button>
            </form>
            {{/slackConfigured}}
            {{^slackConfigured}}<p class="status">Slack is not configured on this server (it needs
              <code>SLACK_SIGNING_SECRET</code>, <code>SLACK_CLIENT_ID</code> and <code>SLACK_CLIENT_SECRET</code>).</p>
            {{/slackConfigured}}
            {{#slackSettings}}
            {{#notifyProblemText}}<p class="alert error" role="alert">{{notifyProblemText}}</p>{{/notifyProblemText}}
            {{#missingScopesText}}<p class="alert notice" role="status">{{missingScopesText}}</p>{{/missingScopesText}}
            <form method="post" action="/inbox/slack/settings" class="slack-settings stack" aria-label="Slack settings">
              <input type="hidden" name="csrf" value="{{csrfToken}}">
              <label for="triggerEmoji">Trigger emoji <span class="muted">(1 to 10 names, no colons)</span></label>
              <input id="triggerEmoji" name="triggerEmoji" value="{{triggerEmojiText}}" required spellcheck="false"
                     autocapitalize="off">
              <label for="notifyChannel">Post new feedback to channel <span class="muted">(channel id, empty: none)</span></label>
              <input id="notifyChannel" name="notifyChannel" value="{{notifyChannelText}}" placeholder="C0123456789"
                     spellcheck="false" autocapitalize="off">
              <button type="submit">Save Slack settings</button>
            </form>
            {{/slackSettings}}
          </div>
        </section>
        <h1 class="list-title">Feedback <span class="muted">· {{filterSummary}}</span></h1>
        {{#environmentsHint}}<p class="hint">{{environmentsHint}} <a href="{{allEnvironmentsHref}}">Show all environments</a></p>{{/environmentsHint}}
        {{#hasItems}}
        <ol class="items">
          {{#items}}{{> item}}{{/items}}
        </ol>
        {{/hasItems}}
        {{^hasItems}}<p class="empty">No feedback here yet{{#isFiltered}} for these filters{{/isFiltered}}.</p>{{/hasItems}}
        {{#setupClientID}}<p class="hint">This project's client id is <code>{{setupClientID}}</code>: the widget and
          <code>POST /api/feedback</code> send feedback with it, and it shows here as it arrives. Try it on
          <a href="{{setupDemoHref}}">the widget's demo page</a>.</p>{{/setupClientID}}
        {{#hasPages}}
        <nav class="pager" aria-label="Pages">
          {{#newerHref}}<a href="{{newerHref}}">« Newest</a>{{/newerHref}}
          {{#previousHref}}<a href="{{previousHref}}" rel="prev">‹ Newer</a>{{/previousHref}}
          {{#olderHref}}<a href="{{olderHref}}" rel="next">Older »</a>{{/olderHref}}
        </nav>
        {{/hasPages}}
        {{#exportHref}}<p class="export"><a href="{{exportHref}}" download>Download this list as CSV</a> <span class="muted">(every page of it, with these filters, for a spreadsheet)</span></p>{{/exportHref}}
        {{> foot}}
        """#

    static let item = #"""
        <li class="item" id="item-{{itemID}}">
          {{#itemNotice}}<p class="alert notice" role="status">{{itemNotice}}</p>{{/itemNotice}}
          <article aria-labelledby="h-{{itemID}}">
            <header class="item-head">
              <h2 id="h-{{itemID}}" class="rating {{ratingClass}}">{{ratingText}}<span class="sr"> · {{headingDetail}}</span></h2>
              <span class="badge source-{{sourceValue}}">{{sourceLabel}}</span>
              <span class="badge env">{{environmentLabel}}</span>
              {{#itemHref}}<a class="open-item" href="{{itemHref}}">{{/itemHref}}<time datetime="{{createdAtISO}}">{{createdAtText}}</time>{{#itemHref}}<span class="sr"> · open this feedback</span></a>{{/itemHref}}
            </header>
            {{#comment}}<p class="comment">{{comment}}{{#commentCut}} <a href="{{itemHref}}">Read all<span class="sr"> of this feedback</span></a>{{/commentCut}}</p>{{/comment}}
            <dl class="facts">
              {{#pageLink}}<dt>Page</dt><dd>{{#isLink}}<a href="{{href}}" rel="noopener noreferrer" target="_blank">{{text}}<span class="sr"> (opens in a new tab)</span></a>{{/isLink}}{{^isLink}}{{text}}{{/isLink}}{{#pageTitle}} <span class="muted">({{pageTitle}})</span>{{/pageTitle}}</dd>{{/pageLink}}
              {{#referrer}}<dt>Referrer</dt><dd>{{referrer}}</dd>{{/referrer}}
              {{#userEmail}}<dt>Email</dt><dd><a href="{{userEmailHref}}">{{userEmail}}</a></dd>{{/userEmail}}
              {{#endUserID}}<dt>User id</dt><dd><code>{{endUserID}}</code></dd>{{/endUserID}}
              {{#replay}}<dt>Session replay</dt><dd><code>{{replayID}}</code>{{#offsetText}} <span class="muted">at {{offsetText}}</span>{{/offsetText}}</dd>{{/replay}}
              {{#slackCapture}}
              <dt>Slack</dt>
              <dd>{{#channel}}channel <code>{{channel}}</code> · {{/channel}}{{method}}{{#permalink}} · <a href="{{permalink}}" rel="noopener noreferrer" target="_blank">Open in Slack<span class="sr"> (opens in a new tab)</span></a>{{/permalink}}</dd>
              {{/slackCapture}}
            </dl>
            {{#hasScreenshots}}
            <ul class="shots" aria-label="Screenshots">
              {{#screenshots}}<li>{{#fullHref}}<a href="{{fullHref}}" target="_blank" rel="noopener"><img src="{{fullHref}}" alt="{{alt}}" loading="lazy" width="160" height="100"><span class="sr"> (opens in a new tab)</span></a>{{/fullHref}}{{^fullHref}}<span class="muted">{{alt}}</span>{{/fullHref}}</li>{{/screenshots}}
            </ul>
            {{/hasScreenshots}}
            {{#metadataJSON}}<details class="meta"><summary>Metadata</summary><pre>{{metadataJSON}}</pre></details>{{/metadataJSON}}
            {{#showActions}}<p class="actions"><a class="danger-link" href="{{deleteHref}}">Delete<span class="sr"> this feedback: {{headingDetail}}, {{createdAtText}}</span></a></p>{{/showActions}}
          </article>
        </li>

        """#

    static let confirm = #"""
        {{> head}}
        <section class="card narrow">
          <h1>Delete this feedback?</h1>
          <p>This removes the item and its screenshots for good. It cannot be undone.</p>
          <ol class="items single">{{#item}}{{> item}}{{/item}}</ol>
          <form method="post" action="/inbox/items/{{deleteID}}/delete" class="row">
            <input type="hidden" name="csrf" value="{{csrfToken}}">
            <input type="hidden" name="source" value="{{returnSource}}">
            <input type="hidden" name="env" value="{{returnEnvironment}}">
            <input type="hidden" name="q" value="{{returnText}}">
            <input type="hidden" name="cursor" value="{{returnCursor}}">
            <button type="submit" class="danger">Delete feedback</button>
            <a class="button" href="{{cancelHref}}">Cancel</a>
          </form>
        </section>
        {{> foot}}
        """#

    static let single = #"""
        {{> head}}
        <p><a href="{{listHref}}">« {{listLabel}}</a></p>
        <h1 class="list-title">Feedback item</h1>
        <ol class="items single">{{#item}}{{> item}}{{/item}}</ol>
        {{> foot}}
        """#

    static let message = #"""
        {{> head}}
        <section class="card narrow">
          <h1>{{heading}}</h1>
          <p>{{text}}</p>
          <p><a class="button" href="{{backHref}}">{{backLabel}}</a></p>
        </section>
        {{> foot}}
        """#
}
