from lwasr.cli import main

main()
