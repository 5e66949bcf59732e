# Real ACP agents the tests drive through the proxy, offline: installed from npm at a pinned
# version into the cache outside the clone. codex-acp ships a native binary per platform
# (~225 MB, a few seconds to install); the tests point it at a loopback stand-in of its model
# API (internal/test/agenttest).

CODEX_ACP_VERSION := 0.16.0
CODEX_ACP_DIR     := $(DAEDALUS_CACHE)/codex-acp-$(CODEX_ACP_VERSION)
CODEX_ACP         := $(CODEX_ACP_DIR)/node_modules/.bin/codex-acp

TEST_ENGINES += codex-acp
TEST_ENV     += DAEDALUS_CODEX_ACP=$(CODEX_ACP)

.PHONY: codex-acp
codex-acp: $(CODEX_ACP) ## Install the pinned codex-acp (Zed's ACP adapter for Codex) from npm (cached outside the clone).

# Installed into a temporary folder and moved in whole, so an interrupted install never
# leaves a half cache.
$(CODEX_ACP):
	rm -rf $(CODEX_ACP_DIR).tmp && mkdir -p $(CODEX_ACP_DIR).tmp
	cd $(CODEX_ACP_DIR).tmp && npm install --no-audit --no-fund --no-save --loglevel=error \
		@zed-industries/codex-acp@$(CODEX_ACP_VERSION)
	$(CODEX_ACP_DIR).tmp/node_modules/.bin/codex-acp --help >/dev/null
	rm -rf $(CODEX_ACP_DIR) && mv $(CODEX_ACP_DIR).tmp $(CODEX_ACP_DIR)

# claude-code-acp is a Node.js program (the machine's node runs it); ~125 MB with the Claude
# Agent SDK it bundles. The tests point it at a loopback Messages API (ANTHROPIC_BASE_URL).
CLAUDE_ACP_VERSION := 0.16.2
CLAUDE_ACP_DIR     := $(DAEDALUS_CACHE)/claude-code-acp-$(CLAUDE_ACP_VERSION)
CLAUDE_ACP         := $(CLAUDE_ACP_DIR)/node_modules/.bin/claude-code-acp

TEST_ENGINES += claude-code-acp
TEST_ENV     += DAEDALUS_CLAUDE_CODE_ACP=$(CLAUDE_ACP)

.PHONY: claude-code-acp
claude-code-acp: $(CLAUDE_ACP) ## Install the pinned claude-code-acp (Zed's ACP adapter for Claude Code) from npm (cached outside the clone).

$(CLAUDE_ACP):
	rm -rf $(CLAUDE_ACP_DIR).tmp && mkdir -p $(CLAUDE_ACP_DIR).tmp
	cd $(CLAUDE_ACP_DIR).tmp && npm install --no-audit --no-fund --no-save --loglevel=error \
		@zed-industries/claude-code-acp@$(CLAUDE_ACP_VERSION)
	rm -rf $(CLAUDE_ACP_DIR) && mv $(CLAUDE_ACP_DIR).tmp $(CLAUDE_ACP_DIR)
