from kpops_bot.cli import main

main()
