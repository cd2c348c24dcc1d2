"""Labels of local mode, read-only mode and the sign-in settings check (portfolio/local_mode.py)."""

LABELS: dict[str, tuple[str, str]] = {
    "local.title": ("仅限本机使用", "This computer only"),
    "local.lead": (
        "本应用没有配置统一身份认证，正以**本机模式**运行。本机模式下使用者拥有管理员权限，"
        "所以应用只接受在运行它的这台电脑上直接打开的浏览器。这次访问来自其他电脑或经过了代理转发，"
        "因此这里不显示任何数据，也不能做任何修改。",
        "No sign-in is configured, so the app runs in **local mode**. In local mode whoever uses "
        "it has administrator rights, so the app only serves a browser opened directly on the "
        "computer that runs it. This request comes from another computer or through a proxy: "
        "no data is shown here and nothing can be changed.",
    ),
    "local.howto": (
        "**要让局里的其他电脑使用，请管理员选择一种方式：**\n\n"
        "1. **配置登录（推荐）**：在服务器上把 `.streamlit/secrets.example.toml` 复制为 "
        "`.streamlit/secrets.toml`，填写 `[auth]` 段（统一身份认证 / OpenID Connect），"
        "用 `portfolio user add` 登记用户，然后重启应用；每个人登录后按自己的角色使用。\n"
        "2. **只读开放**：用 `portfolio serve --address 0.0.0.0 --read-only` 启动，"
        "所有访问者都只能查看，不能修改。\n"
        "3. **在本机使用**：在运行应用的电脑上打开 http://localhost:{port} 。\n\n"
        "详见项目文档 `docs/access.md`。",
        "**To serve other computers of the bureau, an administrator chooses one of:**\n\n"
        "1. **Configure sign-in (recommended)**: on the server, copy "
        "`.streamlit/secrets.example.toml` to `.streamlit/secrets.toml`, fill in the `[auth]` "
        "table (OpenID Connect), register users with `portfolio user add` and restart the app; "
        "everyone signs in and works within their role.\n"
        "2. **Open it read-only**: start it with `portfolio serve --address 0.0.0.0 --read-only`; "
        "every visitor can look but not change anything.\n"
        "3. **Use it on this computer**: open http://localhost:{port} on the computer that runs "
        "the app.\n\n"
        "See `docs/access.md` in the project.",
    ),
    "local.reason": ("原因：{reason}", "Reason: {reason}"),
    "local.reason.unknown": ("无法确定访问者的地址。", "the visitor's address is unknown."),
    "local.reason.remote": ("访问来自另一台电脑。", "the request comes from another computer."),
    "local.reason.proxy": ("访问经过了代理服务器转发。", "the request came through a proxy."),
    "local.reason.origin": ("页面不是以本机地址（localhost）打开的。",
                            "the page was not opened at a local address (localhost)."),
    "local.auth_title": ("登录设置不可用", "Sign-in settings unusable"),
    "local.auth_stop": (
        "`.streamlit/secrets.toml` 中有 `[auth]` 段，但它不能用于登录，应用已停止（不会退回本机模式）。"
        "请改正后重启应用，见 `docs/access.md`。",
        "`.streamlit/secrets.toml` has an `[auth]` table that cannot sign anyone in, so the app "
        "stopped (it does not fall back to local mode). Fix it and restart the app; see "
        "`docs/access.md`.",
    ),
    "local.secrets_unreadable": (
        "无法读取登录设置文件 `secrets.toml`，应用已停止（不会退回本机模式）。请检查文件的格式和读取权限后重启应用。",
        "The secrets file `secrets.toml` cannot be read, so the app stopped (it does not fall "
        "back to local mode). Check its syntax and permissions and restart the app.",
    ),
    "local.auth.not_table": ("`auth` 必须是一个表（`[auth]` 段）。", "`auth` must be a table (`[auth]`)."),
    "local.auth.missing": ("缺少 `{key}`。", "`{key}` is missing."),
    "local.auth.empty": ("`{key}` 为空或不是文本。", "`{key}` is empty or not text."),
    "local.auth.short": ("`cookie_secret` 太短，至少需要 {n} 个字符。",
                         "`cookie_secret` is too short: at least {n} characters are needed."),
    "local.auth.example": ("`cookie_secret` 仍是示例文件里的值，请换成一串随机字符。",
                           "`cookie_secret` is still the example's value; use a random string."),
    "local.auth.not_url": ("`{key}` 不是 http(s) 地址。", "`{key}` is not an http(s) URL."),
    "local.auth.callback": ("`redirect_uri` 必须是应用地址加 `/oauth2callback`。",
                            "`redirect_uri` must be the app's address followed by `/oauth2callback`."),
    "auth.visitor": ("访客", "Visitor"),
    "auth.read_only": (
        "只读模式：所有访问者都是只读用户，可以查看、查询和生成报告，不能修改、导入、撤销或管理用户。",
        "Read-only mode: every visitor is a viewer who can look, query and make reports, but "
        "cannot edit, import, undo or manage users.",
    ),
    "auth.no_database": (
        "数据库文件不存在。只读模式不会新建数据库，请先在服务器上运行 `portfolio init`。",
        "The database file does not exist. Read-only mode does not create one; run "
        "`portfolio init` on the server first.",
    ),
}
