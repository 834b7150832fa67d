/// The inbox's one stylesheet, served from `/inbox/assets/inbox.css` so the pages' CSP needs no inline style.
enum InboxStylesheet {
    static let css = #"""
        :root{--bg:#f6f7f9;--card:#fff;--text:#1c2230;--muted:#5f6b7d;--line:#dde1e7;--field:#7b8494;--accent:#3b5bdb;
        --accent-text:#fff;--danger:#c92a2a;--warn:#c2410c;--ok:#2b7a39;--focus:#b45309;--badge:#eef1f6;
        font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;line-height:1.45}
        @media (prefers-color-scheme:dark){:root{--bg:#14171c;--card:#1d2129;--text:#e8ebf0;--muted:#9aa4b2;
        --line:#2e3440;--field:#7d8797;--accent:#748ffc;--accent-text:#0b1020;--danger:#ff8787;--warn:#ffa94d;--ok:#69db7c;
        --focus:#f59f00;--badge:#272d38}}
        *{box-sizing:border-box}
        body{margin:0;background:var(--bg);color:var(--text);font-size:16px}
        a{color:var(--accent)}
        :focus-visible{outline:3px solid var(--focus);outline-offset:2px}
        .skip{position:absolute;left:-9999px}.skip:focus{left:1rem;top:1rem;background:var(--card);padding:.5rem;z-index:9}
        .sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
        .bar{display:flex;align-items:center;justify-content:space-between;gap:1rem;padding:.75rem 1.25rem;
        background:var(--card);border-bottom:1px solid var(--line)}
        .brand{font-weight:700;font-size:1.15rem;text-decoration:none;color:var(--text)}
        .brand span{color:var(--accent);font-weight:600}
        .who{display:flex;align-items:center;gap:.75rem;min-width:0}
        .project{color:var(--muted);overflow-wrap:anywhere;min-width:0}
        main{max-width:60rem;margin:0 auto;padding:1.25rem}
        main:focus{outline:none}
        h1{font-size:1.35rem;margin:.25rem 0 1rem}
        .muted{color:var(--muted);font-weight:400}
        .card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:1.25rem 1.5rem}
        .narrow{max-width:36rem;margin:2rem auto}
        .hint{color:var(--muted)}
        .stack{display:flex;flex-direction:column;gap:.5rem}
        .row{display:flex;flex-wrap:wrap;gap:.75rem;align-items:center;margin-top:1rem}
        label{font-weight:600;font-size:.9rem}
        input,select{font:inherit;color:inherit;background:var(--bg);border:1px solid var(--field);border-radius:6px;
        padding:.5rem .6rem;min-height:2.5rem;max-width:100%}
        button,.button{font:inherit;cursor:pointer;border-radius:6px;border:1px solid var(--line);background:var(--card);
        color:var(--text);padding:.5rem .9rem;min-height:2.5rem;text-decoration:none;display:inline-flex;align-items:center}
        button.primary{background:var(--accent);border-color:var(--accent);color:var(--accent-text);font-weight:600}
        button.danger{background:var(--danger);border-color:var(--danger);color:#fff;font-weight:600}
        button.link{border:0;background:none;color:var(--accent);text-decoration:underline;padding:0;min-height:0}
        .slack-button{background:#4a154b;border-color:#4a154b;color:#fff;font-weight:600}
        .alert{padding:.65rem .9rem;border-radius:8px;border:1px solid var(--line);background:var(--card)}
        .alert.error{border-color:var(--danger);color:var(--danger)}
        .alert.notice{border-color:var(--accent)}
        .toolbar{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:flex-end;gap:1rem;
        background:var(--card);border:1px solid var(--line);border-radius:10px;padding:1rem 1.25rem;margin-bottom:1.25rem}
        .filters{display:flex;flex-wrap:wrap;gap:.75rem;align-items:flex-end}
        .field{display:flex;flex-direction:column;gap:.25rem}
        .slack{display:flex;flex-direction:column;align-items:flex-start;gap:.4rem}
        .status{margin:0;color:var(--muted)}.status.ok{color:var(--text)}.status.warn{color:var(--danger)}
        .list-title{margin-top:0}
        .items{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:.85rem}
        .items.single{margin:1rem 0}
        .item article{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:1rem 1.25rem}
        .item-head{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem .6rem}
        .item-head time{margin-left:auto;color:var(--muted);font-size:.9rem}
        .rating{font-size:1.05rem;margin:0}
        .rating-1{color:var(--danger)}.rating-2{color:var(--warn)}.rating-3{color:var(--ok)}.rating-4{color:var(--accent)}
        .rating-none{color:var(--muted);font-weight:600}
        .badge{font-size:.78rem;padding:.12rem .5rem;border-radius:999px;background:var(--badge);color:var(--muted);
        font-weight:600;letter-spacing:.01em}
        .source-slack{background:#4a154b;color:#fff}.source-widget{background:var(--accent);color:var(--accent-text)}
        .comment{white-space:pre-wrap;overflow-wrap:anywhere;margin:.6rem 0;font-size:1.02rem}
        .facts{display:grid;grid-template-columns:8.5rem 1fr;gap:.2rem .9rem;margin:.5rem 0 0;font-size:.92rem}
        .facts dt{color:var(--muted)}.facts dd{margin:0;overflow-wrap:anywhere}
        .shots{list-style:none;display:flex;flex-wrap:wrap;gap:.5rem;padding:0;margin:.75rem 0 0}
        .shots img{display:block;width:160px;height:100px;object-fit:cover;border-radius:6px;border:1px solid var(--line)}
        .meta{margin-top:.6rem;font-size:.9rem}.meta pre{white-space:pre-wrap;overflow-wrap:anywhere;
        background:var(--bg);padding:.5rem;border-radius:6px}
        .actions{margin:.6rem 0 0;text-align:right}
        .danger-link{color:var(--danger)}
        .empty{padding:2rem;text-align:center;color:var(--muted);background:var(--card);border:1px dashed var(--line);
        border-radius:10px}
        .pager{display:flex;justify-content:space-between;margin:1.25rem 0}
        .pager a[rel=next]{margin-left:auto}
        code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.88em}
        @media (max-width:40rem){main{padding:.75rem}.toolbar{flex-direction:column;align-items:stretch}
        .filters .field,.filters select{width:100%}.facts{grid-template-columns:1fr}.facts dd{margin-bottom:.35rem}
        .item-head time{margin-left:0;width:100%}}
        """#
}
