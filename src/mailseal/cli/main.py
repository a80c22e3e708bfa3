"""Entry point of the ``mailseal`` command: a click group with one module per command."""

from __future__ import annotations

import importlib
import sys

import click

from .. import __version__
from .._allocator import keep_freed_memory

# Each command's module is imported only when that command runs: start-up cost matters for a CLI.
COMMANDS = {
    "sign": ("crypto", "sign_cmd"),
    "encrypt": ("crypto", "encrypt_cmd"),
    "decrypt": ("crypto", "decrypt_cmd"),
    "verify": ("reading", "verify_cmd"),
    "open": ("reading", "open_cmd"),
    "inspect": ("reading", "inspect_cmd"),
    "certs": ("certs", "certs_group"),
    "trust": ("trust", "trust_group"),
    "ca": ("ca", "ca_group"),
    "keys": ("keys", "keys_group"),
    "policy": ("policy", "policy_group"),
    "serve": ("serve", "serve_cmd"),
    "held": ("held", "held_group"),
    "users": ("users", "users_group"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(f"{__package__}.{module}"), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mailseal")
@click.option("--debug", is_flag=True, help="Show a traceback on errors.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or notices on stderr (errors still show).")
def cli(debug: bool, quiet: bool) -> None:
    """mailseal: S/MIME signing, encryption, verification and decryption of e-mail (RFC 8551)."""



# One-shot commands that stream a message: glibc keeps their freed chunk buffers for reuse. Not `serve`, a
# long-running process, which should hand memory back after a burst.
STREAMING_COMMANDS = frozenset({"sign", "encrypt", "decrypt", "verify", "open", "inspect"})


def main() -> None:
    command = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
    if command in STREAMING_COMMANDS:
        keep_freed_memory()
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else "", err=True)
        raise SystemExit(2) from None
    except click.ClickException as exc:
        click.echo(f"mailseal: error[usage]: {exc.format_message()}", err=True)
        raise SystemExit(2) from None
    except click.exceptions.Abort:
        click.echo("mailseal: error[usage]: aborted", err=True)
        raise SystemExit(2) from None
    except click.exceptions.Exit as exc:
        raise SystemExit(exc.exit_code) from None


if __name__ == "__main__":
    main()
