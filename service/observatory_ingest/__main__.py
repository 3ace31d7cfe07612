from observatory_ingest.cli.main import main

raise SystemExit(main())
