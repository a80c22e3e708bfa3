"""Entry point of the ``mailseal`` command: a click group with one module per command."""

from __future__ import annotations

import click

from .. import __version__
from .ca import ca_group
from .certs import certs_group
from .crypto import decrypt_cmd, encrypt_cmd, sign_cmd
from .reading import inspect_cmd, open_cmd, verify_cmd
from .trust import trust_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mailseal")
@click.option("--debug", is_flag=True, help="Show a traceback on errors.")
def cli(debug: bool) -> None:
    """mailseal: S/MIME signing, encryption, verification and decryption of e-mail (RFC 8551)."""


for command in (sign_cmd, encrypt_cmd, decrypt_cmd, verify_cmd, open_cmd, inspect_cmd, certs_group, trust_group,
                ca_group):
    cli.add_command(command)


def main() -> None:
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
