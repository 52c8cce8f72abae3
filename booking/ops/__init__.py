"""Operations commands (backups); imported only by the CLI commands that need them."""
