"""Operations: the command line, doctor, the headless course runner and its report, launch planning."""
