package io.mistralflink.job.cli;

import picocli.CommandLine;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * The typed values of options, each refused with the end of a one-line error (the CLI puts the
 * command and option in front: {@code generate: --top-p must be a finite number in (0, 1.0], got 0}).
 */
public final class Converters {
    private Converters() {}

    /** Every number option of {@code cl} and its subcommands typed by these converters. */
    public static CommandLine register(CommandLine cl) {
        return cl.registerConverter(Integer.class, new Int()).registerConverter(int.class, new Int())
                .registerConverter(java.lang.Long.class, new Long()).registerConverter(long.class, new Long())
                .registerConverter(Float.class, new Decimal()).registerConverter(float.class, new Decimal());
    }

    static final class Int implements ITypeConverter<Integer> {
        @Override public Integer convert(String v) {
            try { return Integer.parseInt(v.trim()); }
            catch (NumberFormatException e) { throw new TypeConversionException("must be an integer, got '" + v + "'"); }
        }
    }

    static final class Long implements ITypeConverter<java.lang.Long> {
        @Override public java.lang.Long convert(String v) {
            try { return java.lang.Long.parseLong(v.trim()); }
            catch (NumberFormatException e) { throw new TypeConversionException("must be an integer, got '" + v + "'"); }
        }
    }

    static final class Decimal implements ITypeConverter<Float> {
        @Override public Float convert(String v) {
            try { return Float.parseFloat(v.trim()); }
            catch (NumberFormatException e) { throw new TypeConversionException("must be a number, got '" + v + "'"); }
        }
    }

    /** A finite number >= 0 (a temperature). */
    static final class NonNegative implements ITypeConverter<Float> {
        @Override public Float convert(String v) {
            float f = new Decimal().convert(v);
            if (!(Float.isFinite(f) && f >= 0f)) throw new TypeConversionException("must be a finite number >= 0.0, got " + v);
            return f;
        }
    }

    /** A finite number in (0, 1] (a top-p). */
    static final class Probability implements ITypeConverter<Float> {
        @Override public Float convert(String v) {
            float f = new Decimal().convert(v);
            if (!(Float.isFinite(f) && f > 0f && f <= 1f)) throw new TypeConversionException("must be a finite number in (0, 1.0], got " + v);
            return f;
        }
    }

    /** A finite number in [0, 1] (a min-p). */
    static final class UnitInterval implements ITypeConverter<Float> {
        @Override public Float convert(String v) {
            float f = new Decimal().convert(v);
            if (!(Float.isFinite(f) && f >= 0f && f <= 1f)) throw new TypeConversionException("must be a finite number between 0.0 and 1.0, got " + v);
            return f;
        }
    }
}
