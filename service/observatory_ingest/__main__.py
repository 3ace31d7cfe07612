from observatory_ingest.cli import main

raise SystemExit(main())
